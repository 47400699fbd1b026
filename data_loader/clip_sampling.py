"""Which frames of a video make its clips: mmaction2's SampleFrames, seeded by the dataset.

A clip is `clip_len` frames taken every `frame_interval` frames; a video gives `num_clips`
clips. In training each clip starts at a random offset within its segment of the video;
in evaluation the clips are spread uniformly and deterministically (one clip: the centre;
`clip_len` 1: the centre frame of each of `num_clips` segments, as TSN tests). As in
mmaction2, a training clip claims `clip_len * frame_interval` frames of the video and a test
clip spans exactly the frames it shows, `(clip_len - 1) * frame_interval + 1`. A clip
reaching past the end loops back to the start (`loop`) or repeats the last frame
(`repeat_last`), so videos shorter than a clip, even one frame long, still give full clips.
"""
import numpy as np


class SampleFrames:
    def __init__(self, clip_len=16, frame_interval=1, num_clips=1, out_of_bound="loop"):
        for name, value in (("clip_len", clip_len), ("frame_interval", frame_interval), ("num_clips", num_clips)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if out_of_bound not in ("loop", "repeat_last"):
            raise ValueError(f"out_of_bound must be 'loop' or 'repeat_last', got {out_of_bound!r}")
        self.clip_len, self.frame_interval, self.num_clips = clip_len, frame_interval, num_clips
        self.out_of_bound = out_of_bound

    def __call__(self, num_frames, rng=None, test_mode=False):
        """Frame indices of shape (num_clips, clip_len); `rng` (numpy Generator) is used in training only."""
        if num_frames < 1:
            raise ValueError(f"a video needs at least one frame, got {num_frames}")
        if test_mode:
            span = (self.clip_len - 1) * self.frame_interval + 1
            offsets = self._test_offsets(num_frames, span)
        else:
            if rng is None:
                raise ValueError("training clips are random: give the dataset's rng")
            span = self.clip_len * self.frame_interval
            offsets = self._train_offsets(num_frames, span, rng)
        inds = offsets.astype(np.int64)[:, None] + np.arange(self.clip_len)[None, :] * self.frame_interval
        if self.out_of_bound == "loop":
            return np.mod(inds, num_frames)
        safe = inds < num_frames
        last = np.max(np.where(safe, inds, 0), axis=1, keepdims=True)
        return np.where(safe, inds, last)

    def _train_offsets(self, n, span, rng):
        avg = (n - span + 1) // self.num_clips
        if avg > 0:  # one random start inside each of num_clips equal segments
            return np.arange(self.num_clips) * avg + rng.integers(0, avg, self.num_clips)
        if n > max(self.num_clips, span):  # segments too short: sorted random starts
            return np.sort(rng.integers(0, n - span + 1, self.num_clips))
        if avg == 0:
            return np.around(np.arange(self.num_clips) * (n - span + 1.0) / self.num_clips)
        return np.zeros(self.num_clips, dtype=np.int64)  # video shorter than a clip: start at 0

    def _test_offsets(self, n, span):
        if self.clip_len == 1:  # 2D models: the centre frame of each segment
            step = n / self.num_clips
            return (np.arange(self.num_clips) * step + step / 2).astype(np.int64)
        max_offset = max(n - span, 0)
        if self.num_clips == 1:
            return np.array([max_offset // 2])
        return np.round(np.arange(self.num_clips) * (max_offset / (self.num_clips - 1)))

    def __repr__(self):
        return (f"SampleFrames(clip_len={self.clip_len}, frame_interval={self.frame_interval}, "
                f"num_clips={self.num_clips}, out_of_bound={self.out_of_bound!r})")
