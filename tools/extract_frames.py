"""Extract the frames of every video under a folder into frame folders (VideoDataset layout b).

    python tools/extract_frames.py data/videos data/frames [--short-side 128] [--quality 95] [--workers 2]

    <src>/<split>/<class>/<clip>.mp4   ->   <dst>/<split>/<class>/<clip>/img_00001.jpg, img_00002.jpg, ...

Resumable: a clip whose frame folder exists is skipped. Each clip is written into a hidden
temporary folder and renamed when complete, so an interrupted run never leaves a partial
clip that the next run would skip (leftover temporary folders are removed). A video that
cannot be decoded is reported at the end and the rest are extracted; the exit code is then 1.
"""
import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data_loader.video_io import is_video, iter_video_frames
from utils.cli import int_in
from utils.errors import DataError

PARTIAL = ".partial-"


def find_videos(src):
    return sorted(p for p in Path(src).rglob("*") if is_video(p))


def extract_clip(video, out, short_side=None, quality=95, backend="pyav", pattern="img_{:05d}.jpg"):
    """Write the frames of `video` into the folder `out` atomically; returns the frame count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{PARTIAL}", dir=out.parent))
    try:
        n = 0
        for n, frame in enumerate(iter_video_frames(video, backend), 1):
            if short_side:
                h, w = frame.shape[:2]
                s = short_side / min(h, w)
                frame = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            if not cv2.imwrite(str(tmp / pattern.format(n)), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f"could not write {tmp / pattern.format(n)}")
        if n == 0:
            raise DataError(f"video {video} has no frames")
        tmp.chmod(0o755)  # mkdtemp makes it owner-only
        os.replace(tmp, out)
        return n
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _job(args):
    video, out, short_side, quality, backend = args
    try:
        return str(video), extract_clip(video, out, short_side, quality, backend), None
    except (DataError, OSError) as e:
        return str(video), 0, str(e)


def extract_all(src, dst, short_side=None, quality=95, workers=1, backend="pyav", progress=True):
    """Extract every video under `src` not yet extracted under `dst`.
    Returns {"extracted": n, "skipped": n, "frames": n, "failed": [(video, reason), ...]}."""
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise DataError(f"video folder {src} not found")
    for leftover in dst.rglob(f".*{PARTIAL}*") if dst.exists() else []:
        shutil.rmtree(leftover, ignore_errors=True)  # an interrupted run's unfinished clip
    videos = find_videos(src)
    todo = [(v, dst / v.relative_to(src).with_suffix("")) for v in videos]
    todo = [(v, out) for v, out in todo if not out.exists()]
    report = {"extracted": 0, "skipped": len(videos) - len(todo), "frames": 0, "failed": []}
    jobs = [(v, out, short_side, quality, backend) for v, out in todo]
    if workers > 1:
        cv2.setNumThreads(0)  # before forking: the processes are the parallelism
        pool = ProcessPoolExecutor(workers)
        results = pool.map(_job, jobs, chunksize=4)
    else:
        pool, results = None, map(_job, jobs)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(jobs), desc="extracting frames", unit="clip")
    try:
        for video, n, error in results:
            if error:
                report["failed"].append((video, error))
            else:
                report["extracted"] += 1
                report["frames"] += n
    finally:
        if pool is not None:
            pool.shutdown()
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description="Extract video frames into <dst>/<same relative path>/img_NNNNN.jpg.")
    ap.add_argument("src", help="folder of videos, e.g. data/videos (searched recursively)")
    ap.add_argument("dst", help="output folder for the frame folders")
    ap.add_argument("--short-side", type=int_in(1), help="resize frames so the shorter side has this many pixels")
    ap.add_argument("--quality", type=int_in(0, 100), default=95, help="JPEG quality (default 95)")
    ap.add_argument("--workers", type=int_in(1), default=1, help="parallel processes (default 1)")
    ap.add_argument("--backend", choices=["pyav", "opencv"], default="pyav")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        report = extract_all(args.src, args.dst, args.short_side, args.quality, args.workers, args.backend,
                             progress=not args.no_progress)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"extracted {report['extracted']} clips ({report['frames']} frames), skipped {report['skipped']} "
          f"already extracted, {len(report['failed'])} failed")
    for video, reason in report["failed"]:
        print(f"  failed: {reason}", file=sys.stderr)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
