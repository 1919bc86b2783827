//! ImageFolder / CSV sources and decoding of unusual pixel formats.
mod common;

use std::path::Path;

use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};
use kiln_data::decode::{PixelMode, decode_bytes};
use kiln_data::{DataError, Dataset, ImageFolder, OpenOptions, Split, Verify};

#[test]
fn image_folder_sorts_classes_and_records_skipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    common::make_folder(root, &[("train", &[2, 3, 1]), ("val", &[1, 1, 0])], 40, 30);
    // class folder names sort: class_0 < class_1 < class_2; add a 'zebra' train class, empty.
    std::fs::create_dir_all(root.join("train/zebra")).unwrap();
    std::fs::write(root.join("train/class_1/notes.txt"), "hello").unwrap();
    std::fs::write(root.join("train/stray.jpg"), "x").unwrap();
    // nested sub-folder inside a class is walked
    common::save_jpeg(
        &common::texture(5, 40, 30),
        &root.join("train/class_0/sub/deep.jpg"),
        90,
    );

    let f = ImageFolder::open(root).unwrap();
    assert_eq!(f.classes(), ["class_0", "class_1", "class_2", "zebra"]);
    assert_eq!(f.train().class_counts(), vec![3, 3, 1, 0]);
    assert_eq!(f.val().unwrap().class_counts(), vec![1, 1, 0, 0]);
    assert!(f.test().is_none());
    assert_eq!(f.empty_classes(), vec!["zebra".to_string()]);
    let skipped: Vec<String> = f
        .skipped()
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert!(skipped.contains(&"notes.txt".to_string()), "{skipped:?}");
    assert!(skipped.contains(&"stray.jpg".to_string()), "{skipped:?}");
    assert_eq!(f.train().imbalance_ratio(), 3.0);
    assert_eq!(f.splits().len(), 2);
    assert_eq!(f.split(Split::Val).unwrap().len(), 2);
}

#[test]
fn unknown_val_class_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    common::make_folder(dir.path(), &[("train", &[1, 1])], 20, 20);
    common::save_jpeg(
        &common::texture(1, 20, 20),
        &dir.path().join("val/ghost/a.jpg"),
        90,
    );
    match ImageFolder::open(dir.path()) {
        Err(DataError::UnknownClass { split, class, .. }) => {
            assert_eq!(split, "val");
            assert_eq!(class, "ghost");
        }
        other => panic!("expected UnknownClass, got {other:?}"),
    }
    assert!(matches!(
        ImageFolder::open(dir.path().join("train")),
        Err(DataError::MissingTrain { .. })
    ));
}

#[test]
fn verify_decode_skips_and_records_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    common::make_folder(dir.path(), &[("train", &[2, 2])], 24, 24);
    std::fs::write(dir.path().join("train/class_0/broken.jpg"), b"").unwrap();
    let plain = ImageFolder::open(dir.path()).unwrap();
    assert_eq!(plain.train().len(), 5);
    let v = ImageFolder::open_with(
        dir.path(),
        &OpenOptions {
            verify: Verify::Decode,
        },
    )
    .unwrap();
    assert_eq!(v.train().len(), 4);
    let s = v
        .skipped()
        .iter()
        .find(|s| s.path.ends_with("broken.jpg"))
        .expect("corrupt file must be recorded");
    assert!(s.reason.contains("0 bytes"), "{}", s.reason);
}

#[test]
fn csv_manifest_with_groups_and_class_checking() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.csv");
    std::fs::write(
        &m,
        "path,label,group\nimgs/a.jpg,dog,p1\n\"imgs/b, 2.jpg\",cat,p1\n/abs/c.png,dog,\n",
    )
    .unwrap();
    let d = Dataset::from_csv(&m).unwrap();
    assert_eq!(d.classes(), ["cat", "dog"]);
    assert_eq!(d.labels(), vec![1, 0, 1]);
    assert_eq!(d.samples()[0].path, dir.path().join("imgs/a.jpg"));
    assert_eq!(d.samples()[1].path, dir.path().join("imgs/b, 2.jpg"));
    assert_eq!(d.samples()[2].path, Path::new("/abs/c.png"));
    assert_eq!(d.samples()[0].group.as_deref(), Some("p1"));
    assert_eq!(d.samples()[2].group, None);
    let classes = vec!["dog".to_string()];
    assert!(matches!(
        Dataset::from_csv_with_classes(&m, &classes),
        Err(DataError::UnknownClass { .. })
    ));
    std::fs::write(&m, "a.jpg\n").unwrap();
    assert!(matches!(
        Dataset::from_csv(&m),
        Err(DataError::Manifest { line: 1, .. })
    ));
}

fn png_bytes<P: image::PixelWithColorType>(img: &ImageBuffer<P, Vec<P::Subpixel>>) -> Vec<u8>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut v = std::io::Cursor::new(Vec::new());
    img.write_to(&mut v, image::ImageFormat::Png).unwrap();
    v.into_inner()
}

#[test]
fn unusual_modes_decode_to_rgb8() {
    let p = Path::new("x.png");
    let grey = ImageBuffer::from_pixel(3, 2, Luma([100u8]));
    let d = decode_bytes(&png_bytes(&grey), p).unwrap();
    assert_eq!(d.info.mode, PixelMode::L8);
    assert_eq!(d.image.get_pixel(1, 1), &Rgb([100, 100, 100]));

    let la = ImageBuffer::from_pixel(3, 2, LumaA([50u8, 10]));
    let d = decode_bytes(&png_bytes(&la), p).unwrap();
    assert_eq!(d.info.mode, PixelMode::La8);
    assert_eq!(d.image.get_pixel(0, 0), &Rgb([50, 50, 50]));

    let rgba = ImageBuffer::from_pixel(2, 2, Rgba([10u8, 20, 30, 0]));
    let d = decode_bytes(&png_bytes(&rgba), p).unwrap();
    assert_eq!(d.info.mode, PixelMode::Rgba8);
    assert_eq!(d.image.get_pixel(1, 0), &Rgb([10, 20, 30]));

    let rgb16 = ImageBuffer::from_pixel(2, 2, Rgb([0xFFFFu16, 0x8080, 0]));
    let d = decode_bytes(&png_bytes(&rgb16), p).unwrap();
    assert_eq!(d.info.mode, PixelMode::Rgb16);
    assert_eq!(d.image.get_pixel(0, 1), &Rgb([255, 128, 0]));

    let l16 = ImageBuffer::from_pixel(2, 2, Luma([0x4040u16]));
    let d = decode_bytes(&png_bytes(&l16), p).unwrap();
    assert_eq!(d.info.mode, PixelMode::L16);
    assert_eq!(d.image.get_pixel(0, 0), &Rgb([64, 64, 64]));

    // Greyscale JPEG.
    let mut v = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(ImageBuffer::from_pixel(16, 16, Luma([200u8])))
        .write_to(&mut v, image::ImageFormat::Jpeg)
        .unwrap();
    let d = decode_bytes(v.get_ref(), Path::new("g.jpg")).unwrap();
    assert_eq!(d.info.mode, PixelMode::L8);
    let px = d.image.get_pixel(5, 5);
    assert!(px.0.iter().all(|c| (*c as i32 - 200).abs() <= 2), "{px:?}");

    // CMYK JPEG (hand-written).
    let d = decode_bytes(&common::cmyk_jpeg([200, 64, 128, 192]), Path::new("c.jpg")).unwrap();
    assert_eq!(d.info.mode, PixelMode::Cmyk);
    assert_eq!(d.image.dimensions(), (32, 32));
    assert!(!d.truncated);

    // BMP and WebP (lossless) round trips.
    let img = common::texture(3, 20, 10);
    for fmt in [image::ImageFormat::Bmp, image::ImageFormat::WebP] {
        let mut v = std::io::Cursor::new(Vec::new());
        img.write_to(&mut v, fmt).unwrap();
        let d = decode_bytes(v.get_ref(), Path::new("x")).unwrap();
        assert_eq!(d.image, img, "{fmt:?}");
    }
}

#[test]
fn bad_bytes_are_errors_not_panics() {
    let p = Path::new("bad");
    for bytes in [
        &b""[..],
        b"this is text pretending to be a png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10],
        b"GIF89a....",
    ] {
        assert!(
            matches!(decode_bytes(bytes, p), Err(DataError::Decode { .. })),
            "{bytes:?}"
        );
    }
}
