"""Clip sampling follows mmaction2's SampleFrames: random segments in training, uniform and
deterministic clips in evaluation, loop / repeat-last past the end, one-frame clips."""
import numpy as np
import pytest

from data_loader.clip_sampling import SampleFrames


def test_evaluation_takes_the_centre_clip_or_evenly_spaced_clips():
    # 31 frames, 8 x every 2nd: a test clip spans (8 - 1) * 2 + 1 = 15 frames, the centre one starts at (31 - 15) // 2
    assert SampleFrames(8, 2, 1)(31, test_mode=True).tolist() == [list(range(8, 23, 2))]
    # 3 clips of 4 x every 2nd over 20 frames (span 7): starts 0, round(6.5) = 6, 13 - the last frame is used
    assert SampleFrames(4, 2, 3)(20, test_mode=True).tolist() == [[0, 2, 4, 6], [6, 8, 10, 12], [13, 15, 17, 19]]


def test_test_clips_span_the_frames_they_show_as_mmaction2_does():
    # action_quick's test views (8 frames, every 2nd, 3 clips) on a 16-frame video: mmaction2's SampleFrames
    # (test_mode) spans 15 frames, so the views start at 0, 0 and 1 - not all three at 0
    views = SampleFrames(8, 2, 3)(16, test_mode=True)
    assert views[:, 0].tolist() == [0, 0, 1] and views.max() == 15
    # every frame of a longer video is reachable: the last view ends on its last frame
    for n in (17, 40, 101):
        assert SampleFrames(8, 2, 3)(n, test_mode=True)[-1, -1] == n - 1


def test_one_frame_clips_take_segment_centres_in_evaluation():
    assert SampleFrames(1, 1, 1)(21, test_mode=True).tolist() == [[10]]  # the middle frame
    assert SampleFrames(1, 1, 4)(20, test_mode=True).tolist() == [[2], [7], [12], [17]]  # TSN: segment centres


def test_evaluation_ignores_the_random_generator():
    s = SampleFrames(4, 3, 2)
    a = s(50, np.random.default_rng(0), test_mode=True)
    b = s(50, np.random.default_rng(1), test_mode=True)
    assert np.array_equal(a, b)


def test_training_draws_one_random_start_inside_each_segment():
    s = SampleFrames(4, 2, 3)  # 40 frames, span 8: 3 segments of (40 - 8 + 1) // 3 = 11 starts
    starts = np.array([s(40, np.random.default_rng(seed))[:, 0] for seed in range(300)])
    for k in range(3):
        assert set(starts[:, k].tolist()) == set(range(11 * k, 11 * k + 11))  # every start of the segment occurs
    clips = s(40, np.random.default_rng(5))
    assert (np.diff(clips, axis=1) == 2).all() and clips.max() < 40


def test_training_is_reproducible_from_the_seed_and_varies_between_seeds():
    s = SampleFrames(8, 1, 1)
    assert np.array_equal(s(100, np.random.default_rng(3)), s(100, np.random.default_rng(3)))
    assert len({s(100, np.random.default_rng(k))[0, 0] for k in range(20)}) > 5


def test_training_without_room_for_segments_still_samples_inside_the_video():
    s = SampleFrames(8, 1, 5)  # 10 frames, span 8: (10 - 8 + 1) // 5 = 0, sorted random starts in [0, 3)
    for seed in range(20):
        starts = s(10, np.random.default_rng(seed))[:, 0]
        assert (np.diff(starts) >= 0).all() and starts.min() >= 0 and starts.max() <= 2


@pytest.mark.parametrize("test_mode", [False, True])
def test_a_short_video_loops_or_repeats_its_last_frame(test_mode):
    rng = np.random.default_rng(0)
    assert SampleFrames(8, 1, 1, "loop")(5, rng, test_mode).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]]
    assert SampleFrames(8, 1, 1, "repeat_last")(5, rng, test_mode).tolist() == [[0, 1, 2, 3, 4, 4, 4, 4]]
    assert SampleFrames(3, 2, 1, "repeat_last")(4, rng, test_mode).tolist() == [[0, 2, 2]]


@pytest.mark.parametrize("test_mode", [False, True])
def test_a_one_frame_video_and_a_one_frame_clip_work(test_mode):
    rng = np.random.default_rng(0)
    assert SampleFrames(4, 2, 2)(1, rng, test_mode).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    single = SampleFrames(1, 1, 1)(7, rng, test_mode)
    assert single.shape == (1, 1) and 0 <= single[0, 0] < 7


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="clip_len must be an integer >= 1"):
        SampleFrames(0)
    with pytest.raises(ValueError, match="out_of_bound"):
        SampleFrames(4, out_of_bound="wrap")
