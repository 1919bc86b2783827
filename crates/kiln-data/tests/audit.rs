//! The audit on a planted corpus of bad files, duplicates and leakage.
mod common;

use std::path::Path;

use image::{ImageBuffer, Luma, Rgb};
use kiln_data::audit::{AuditConfig, AuditReport, audit_image_folder};
use kiln_data::{ImageFolder, Split};

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().to_string()
}

fn names(issues: &[kiln_data::audit::FileIssue]) -> Vec<String> {
    let mut v: Vec<String> = issues.iter().map(|i| name(&i.file.path)).collect();
    v.sort();
    v
}

fn planted() -> (tempfile::TempDir, AuditReport) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    // A healthy base: 3 classes of RGB JPEGs, ~ 96x72, in train and val.
    common::make_folder(r, &[("train", &[12, 12, 12]), ("val", &[3, 3, 3])], 96, 72);
    let t0 = r.join("train/class_0");

    // truncated JPEG
    let mut good = Vec::new();
    image::DynamicImage::ImageRgb8(common::texture(500, 96, 72))
        .write_to(
            &mut std::io::Cursor::new(&mut good),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(t0.join("truncated.jpg"), &good[..good.len() * 6 / 10]).unwrap();
    // zero bytes
    std::fs::write(t0.join("zero.jpg"), b"").unwrap();
    // text renamed .png
    std::fs::write(
        t0.join("text.png"),
        b"just some text, definitely not an image\n",
    )
    .unwrap();
    // CMYK JPEG
    std::fs::write(t0.join("cmyk.jpg"), common::cmyk_jpeg([200, 64, 128, 192])).unwrap();
    // 16-bit PNG (a real texture, upscaled to 16 bits)
    let tex = common::texture(501, 96, 72);
    let img16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(96, 72, |x, y| {
        Rgb(tex.get_pixel(x, y).0.map(|v| v as u16 * 257))
    });
    img16
        .save_with_format(t0.join("deep16.png"), image::ImageFormat::Png)
        .unwrap();
    // a 1x20000 image
    let strip: ImageBuffer<Luma<u8>, Vec<u8>> =
        ImageBuffer::from_fn(1, 20000, |_, y| Luma([(y % 251) as u8]));
    strip
        .save_with_format(t0.join("strip.png"), image::ImageFormat::Png)
        .unwrap();
    // a PNG saved with a .jpg extension
    common::save_png(&common::texture(502, 96, 72), &t0.join("really_png.jpg"));
    // an empty class folder
    std::fs::create_dir_all(r.join("train/class_3_empty")).unwrap();
    // a blank image
    common::save_jpeg(
        &image::RgbImage::from_pixel(96, 72, Rgb([128, 128, 128])),
        &t0.join("blank.jpg"),
        90,
    );

    // near duplicates across train/val: a re-encoded, resized copy of a train image in val
    let src = common::texture(600, 160, 120);
    common::save_jpeg(&src, &r.join("train/class_1/original.jpg"), 95);
    let small = image::imageops::resize(&src, 112, 84, image::imageops::FilterType::Triangle);
    common::save_jpeg(&small, &r.join("val/class_1/resized_copy.jpg"), 70);
    // exact copy under another label (same split): a label conflict
    std::fs::copy(
        r.join("train/class_1/original.jpg"),
        r.join("train/class_2/original_again.jpg"),
    )
    .unwrap();
    // exact copy across splits (leakage)
    std::fs::copy(
        r.join("train/class_0/img_000.jpg"),
        r.join("val/class_0/leaked.jpg"),
    )
    .unwrap();
    // a non-image file
    std::fs::write(r.join("train/class_2/readme.txt"), "notes").unwrap();

    let folder = ImageFolder::open(r).unwrap();
    let report = audit_image_folder(&folder, &AuditConfig::default()).unwrap();
    (dir, report)
}

#[test]
fn planted_bad_files_are_all_reported() {
    let (dir, rep) = planted();
    let unreadable = names(&rep.unreadable);
    assert_eq!(
        unreadable,
        vec!["text.png", "zero.jpg"],
        "{}",
        rep.summary()
    );
    assert_eq!(names(&rep.truncated), vec!["truncated.jpg"]);
    let modes = names(&rep.mode_anomalies);
    for f in ["cmyk.jpg", "deep16.png", "strip.png"] {
        assert!(modes.contains(&f.to_string()), "{f} not in {modes:?}");
    }
    assert!(!modes.iter().any(|m| m.starts_with("img_")), "{modes:?}");
    let sizes = names(&rep.size_outliers);
    assert!(sizes.contains(&"strip.png".to_string()), "{sizes:?}");
    assert!(
        sizes.contains(&"cmyk.jpg".to_string()),
        "32x32 < min side: {sizes:?}"
    );
    assert_eq!(names(&rep.format_mismatches), vec!["really_png.jpg"]);
    assert!(names(&rep.low_information).contains(&"blank.jpg".to_string()));
    let train = rep
        .class_distribution
        .iter()
        .find(|d| d.split == Split::Train)
        .unwrap();
    assert_eq!(train.empty_classes, vec!["class_3_empty".to_string()]);
    assert!(train.below_minimum.contains(&"class_3_empty".to_string()));
    assert!(rep.skipped.iter().any(|s| name(&s.path) == "readme.txt"));
    assert!(rep.has_issues());

    // JSON written atomically and parseable; summary mentions the key problems.
    let out = dir.path().join("report.json");
    rep.write_json(&out, false).unwrap();
    let back: AuditReport = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(back.totals, rep.totals);
    assert!(back.records.is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let s = rep.summary();
    for needle in [
        "unreadable: 2",
        "truncated",
        "LEAKAGE",
        "different labels",
        "class_3_empty",
    ] {
        assert!(s.contains(needle), "summary lacks {needle}:\n{s}");
    }
}

#[test]
fn duplicates_leakage_and_label_conflicts_are_found() {
    let (_dir, rep) = planted();
    // exact: original.jpg == original_again.jpg ; img_000.jpg == leaked.jpg
    assert_eq!(
        rep.totals.exact_duplicate_groups, 2,
        "{:?}",
        rep.exact_duplicates
    );
    // near: resized_copy.jpg ~ original.jpg (train) across to val
    let near: Vec<(String, String)> = rep
        .near_duplicates
        .iter()
        .map(|p| (name(&p.a.path), name(&p.b.path)))
        .collect();
    assert!(
        near.iter().any(|(a, b)| {
            (a == "resized_copy.jpg" || b == "resized_copy.jpg")
                && (a.starts_with("original") || b.starts_with("original"))
        }),
        "{near:?}"
    );
    // only planted pairs: no textured image matches another one by chance
    assert!(rep.totals.near_duplicate_pairs <= 2, "{near:?}");
    let leak_files: Vec<Vec<String>> = rep
        .leakage
        .iter()
        .map(|c| c.files.iter().map(|f| name(&f.path)).collect())
        .collect();
    assert_eq!(rep.leakage.len(), 2, "{leak_files:?}");
    assert!(
        leak_files
            .iter()
            .any(|c| c.contains(&"leaked.jpg".to_string()))
    );
    let near_leak = rep
        .leakage
        .iter()
        .find(|c| c.files.iter().any(|f| name(&f.path) == "resized_copy.jpg"))
        .expect("near-duplicate leak");
    assert!(!near_leak.exact);
    assert_eq!(near_leak.splits, vec![Split::Train, Split::Val]);
    assert_eq!(rep.label_conflicts.len(), 1);
    assert_eq!(
        rep.label_conflicts[0].classes,
        vec!["class_1".to_string(), "class_2".to_string()]
    );
}

#[test]
fn clean_folder_has_no_issues() {
    let dir = tempfile::tempdir().unwrap();
    common::make_folder(
        dir.path(),
        &[("train", &[10, 10]), ("val", &[2, 2])],
        64,
        48,
    );
    let f = ImageFolder::open(dir.path()).unwrap();
    let rep = audit_image_folder(
        &f,
        &AuditConfig {
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!rep.has_issues(), "{}", rep.summary());
    assert_eq!(rep.totals.decoded, 24);
    assert!(rep.summary().contains("no issues found"));
    let train = &rep.class_distribution[0];
    assert_eq!(train.imbalance_ratio, Some(1.0));
}
