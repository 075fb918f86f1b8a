"""Frame sources (keras_lmk.data.frames): images, folders and videos read as RGB frames, bad inputs skipped
with a warning or refused with the input's name; where a drive folder keeps its frames."""

import cv2
import numpy as np
import pytest
from inference_helpers import read_frames_with_warnings

from keras_lmk.data.frames import (
    FrameSource,
    FrameSourceError,
    drive_frames,
    read_image_rgb,
    require_image_rgb,
)


def write_video(path, n=6, size=(80, 48), fps=10.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    w.release()
    return path


def test_video_frames_timestamps_and_corrupt_frame_skipped(tmp_path):
    path = write_video(tmp_path / "v.avi")
    src = FrameSource(path)
    frames, _ = read_frames_with_warnings(src)
    assert [f.index for f in frames] == list(range(6))
    assert [f.timestamp_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert frames[0].image.shape == (48, 80, 3) and frames[0].name == "v.avi"
    # wipe the start of frame 3's JPEG data: that frame is skipped, counted, and the rest still read
    data = bytearray(path.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    data[soi[3] : soi[4] - 16] = bytes(soi[4] - 16 - soi[3])
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(bytes(data))
    src = FrameSource(bad)
    frames, msgs = read_frames_with_warnings(src)
    assert [f.index for f in frames] == [0, 1, 2, 4, 5] and src.skipped == 1
    assert any("frame 3" in m for m in msgs)
    assert frames[3].timestamp_s == pytest.approx(0.4)


def test_truncated_or_missing_video_is_a_clear_error(tmp_path):
    data = write_video(tmp_path / "v.avi").read_bytes()
    (tmp_path / "trunc.avi").write_bytes(data[: len(data) // 2])  # the AVI index is gone
    with pytest.raises(FrameSourceError, match="trunc.avi"):
        list(FrameSource(tmp_path / "trunc.avi"))
    with pytest.raises(FrameSourceError, match="nope.mp4"):
        FrameSource(tmp_path / "nope.mp4")


def test_folder_recursive_sorted_relative_and_bad_images_skipped(tmp_path):
    (tmp_path / "b").mkdir()
    img = np.zeros((10, 12, 3), np.uint8)
    img[..., 0] = 255  # red in RGB
    cv2.imwrite(str(tmp_path / "b" / "2.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    ok, jpg = cv2.imencode(".jpg", img)
    (tmp_path / "b" / "1_trunc.jpg").write_bytes(jpg.tobytes()[:-40])
    (tmp_path / "c.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("x")
    src = FrameSource(tmp_path)
    frames, msgs = read_frames_with_warnings(src)
    assert [f.name for f in frames] == ["a.jpg", "b/2.png"]
    assert src.skipped == 2 and len(msgs) == 2
    assert tuple(frames[1].image[0, 0]) == (255, 0, 0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FrameSourceError, match="empty"):
        FrameSource(empty)


def test_read_image_rgb_returns_rgb_pixels_or_none(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[0, 0] = (255, 0, 0)  # blue in OpenCV's BGR order on disk
    bgr[3, 5] = (0, 0, 255)  # red
    assert cv2.imwrite(str(tmp_path / "a.png"), bgr)
    rgb = read_image_rgb(tmp_path / "a.png")
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 0, 255) and tuple(rgb[3, 5]) == (255, 0, 0)
    ok, jpg = cv2.imencode(".jpg", bgr)
    (tmp_path / "cut.jpg").write_bytes(jpg.tobytes()[:-40])  # end-of-image marker gone
    (tmp_path / "text.png").write_text("not an image")
    for bad in ("cut.jpg", "text.png", "missing.png"):
        assert read_image_rgb(tmp_path / bad) is None, bad


def test_require_image_rgb_returns_the_pixels_or_names_the_bad_file(tmp_path):
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[1, 2] = (0, 0, 255)  # red in OpenCV's BGR order on disk
    assert cv2.imwrite(str(tmp_path / "a.png"), bgr)
    assert tuple(require_image_rgb(tmp_path / "a.png")[1, 2]) == (255, 0, 0)
    (tmp_path / "text.png").write_text("not an image")
    for bad in ("text.png", "missing.png"):
        with pytest.raises(FileNotFoundError, match=f"{bad}: cannot read the image"):
            require_image_rgb(tmp_path / bad)


def test_a_single_image_is_one_frame_named_after_its_file(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.full((5, 7, 3), 40, np.uint8))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    frames, msgs = read_frames_with_warnings(FrameSource(tmp_path / "x.png"))
    assert [(f.index, f.name, f.image.shape, f.timestamp_s) for f in frames] == [
        (0, "x.png", (5, 7, 3), None)
    ]
    assert msgs == []
    with pytest.raises(FrameSourceError, match="bad.jpg"):
        read_frames_with_warnings(FrameSource(tmp_path / "bad.jpg"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FrameSourceError, match="notes.txt: not an image"):
        FrameSource(tmp_path / "notes.txt")


def test_drive_frames_prefers_images_then_the_first_video(tmp_path):
    drive = tmp_path / "drive"
    drive.mkdir()
    with pytest.raises(FileNotFoundError, match="no images/ folder and no video"):
        drive_frames(drive)
    (drive / "b.mp4").write_bytes(b"")
    (drive / "a.avi").write_bytes(b"")
    (drive / "notes.txt").write_text("x")
    assert drive_frames(drive) == drive / "a.avi"  # sorted by name
    (drive / "images").mkdir()
    assert drive_frames(drive) == drive / "images"
