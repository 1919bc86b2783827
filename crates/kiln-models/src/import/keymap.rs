//! Key remaps, as data: `(regex, replacement)` pairs from a file's naming to kiln's paths.
//!
//! kiln's modules carry torchvision's names, so a torchvision table only renames what Rust
//! cannot spell (a field called `0`, a Sequential index). Other layouts (timm,
//! efficientnet_pytorch) are further tables onto the same modules. The pairs are applied in
//! order, each to the result of the previous one.

use crate::pretrained::WeightLayout;
use crate::registry::{Arch, Family};

/// A remap table: `(regex, replacement)` in application order.
pub type Remaps = Vec<(String, String)>;

fn table(pairs: &[(&str, &str)]) -> Remaps {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The remaps that turn `layout`'s keys for `arch` into kiln module paths.
pub fn remaps(arch: Arch, layout: WeightLayout) -> Remaps {
    match (arch.family(), layout) {
        (_, WeightLayout::Kiln) => vec![],
        (Family::ResNet, _) => table(&[
            (r"\.downsample\.0\.", ".downsample.conv."),
            (r"\.downsample\.1\.", ".downsample.bn."),
        ]),
        (Family::Vit, _) => table(&[
            (
                r"^encoder\.layers\.encoder_layer_(\d+)\.",
                "encoder.layers.${1}.",
            ),
            (r"\.mlp\.0\.", ".mlp.linear_1."),
            (r"\.mlp\.3\.", ".mlp.linear_2."),
        ]),
        (Family::EfficientNet, WeightLayout::Timm) => efficientnet_timm(),
        (Family::EfficientNet, WeightLayout::EfficientNetPytorch) => {
            efficientnet_pytorch(&stage_depths(arch))
        }
        (Family::EfficientNet, WeightLayout::Torchvision) => efficientnet_torchvision(),
    }
}

fn stage_depths(arch: Arch) -> Vec<usize> {
    arch.efficientnet_config(1)
        .map(|c| c.stage_depths())
        .unwrap_or_default()
}

/// torchvision: `features.0` stem, `features.1..7` stages, `features.8` head conv,
/// `classifier.1` the Linear; blocks are Sequentials indexed by position.
fn efficientnet_torchvision() -> Remaps {
    let mut t = table(&[
        (r"^features\.0\.0\.", "stem.conv."),
        (r"^features\.0\.1\.", "stem.bn."),
        (r"^features\.8\.0\.", "top.conv."),
        (r"^features\.8\.1\.", "top.bn."),
        (r"^classifier\.1\.", "classifier."),
        // Stage 1 has no expansion: block.0 depthwise, block.1 SE, block.2 projection.
        (
            r"^features\.1\.(\d+)\.block\.0\.0\.",
            "stages.0.${1}.depthwise.conv.",
        ),
        (
            r"^features\.1\.(\d+)\.block\.0\.1\.",
            "stages.0.${1}.depthwise.bn.",
        ),
        (r"^features\.1\.(\d+)\.block\.1\.", "stages.0.${1}.se."),
        (
            r"^features\.1\.(\d+)\.block\.2\.0\.",
            "stages.0.${1}.project.conv.",
        ),
        (
            r"^features\.1\.(\d+)\.block\.2\.1\.",
            "stages.0.${1}.project.bn.",
        ),
    ]);
    for s in 2..=7 {
        let stage = s - 1;
        for (seq, part) in [
            ("0.0", "expand.conv"),
            ("0.1", "expand.bn"),
            ("1.0", "depthwise.conv"),
            ("1.1", "depthwise.bn"),
            ("2", "se"),
            ("3.0", "project.conv"),
            ("3.1", "project.bn"),
        ] {
            t.push((
                format!(
                    r"^features\.{s}\.(\d+)\.block\.{}\.",
                    seq.replace('.', r"\.")
                ),
                format!("stages.{stage}.${{1}}.{part}."),
            ));
        }
    }
    t
}

/// timm `efficientnet_b0`: `conv_stem`/`bn1`, `blocks.S.I.*`, `conv_head`/`bn2`,
/// `classifier`. Stage 0 is a depthwise-separable block whose `conv_pw` is the projection.
fn efficientnet_timm() -> Remaps {
    table(&[
        (r"^conv_stem\.", "stem.conv."),
        (r"^bn1\.", "stem.bn."),
        (r"^conv_head\.", "top.conv."),
        (r"^bn2\.", "top.bn."),
        (
            r"^blocks\.0\.(\d+)\.conv_dw\.",
            "stages.0.${1}.depthwise.conv.",
        ),
        (r"^blocks\.0\.(\d+)\.bn1\.", "stages.0.${1}.depthwise.bn."),
        (
            r"^blocks\.0\.(\d+)\.conv_pw\.",
            "stages.0.${1}.project.conv.",
        ),
        (r"^blocks\.0\.(\d+)\.bn2\.", "stages.0.${1}.project.bn."),
        (r"^blocks\.(\d+)\.(\d+)\.", "stages.${1}.${2}."),
        (r"^(stages\.\d+\.\d+)\.conv_pw\.", "${1}.expand.conv."),
        (r"^(stages\.\d+\.\d+)\.bn1\.", "${1}.expand.bn."),
        (r"^(stages\.\d+\.\d+)\.conv_dw\.", "${1}.depthwise.conv."),
        (r"^(stages\.\d+\.\d+)\.bn2\.", "${1}.depthwise.bn."),
        (r"^(stages\.\d+\.\d+)\.conv_pwl\.", "${1}.project.conv."),
        (r"^(stages\.\d+\.\d+)\.bn3\.", "${1}.project.bn."),
        (r"^(stages\.\d+\.\d+)\.se\.conv_reduce\.", "${1}.se.fc1."),
        (r"^(stages\.\d+\.\d+)\.se\.conv_expand\.", "${1}.se.fc2."),
    ])
}

/// lukemelas' `efficientnet_pytorch`: blocks are numbered flat (`_blocks.N`), so the table
/// depends on the architecture's stage depths.
fn efficientnet_pytorch(depths: &[usize]) -> Remaps {
    let mut t = table(&[
        (r"^_conv_stem\.", "stem.conv."),
        (r"^_bn0\.", "stem.bn."),
        (r"^_conv_head\.", "top.conv."),
        (r"^_bn1\.", "top.bn."),
        (r"^_fc\.", "classifier."),
    ]);
    let mut n = 0;
    for (s, &depth) in depths.iter().enumerate() {
        for i in 0..depth {
            t.push((format!(r"^_blocks\.{n}\."), format!("stages.{s}.{i}.")));
            n += 1;
        }
    }
    t.extend(table(&[
        (r"^(stages\.\d+\.\d+)\._expand_conv\.", "${1}.expand.conv."),
        (r"^(stages\.\d+\.\d+)\._bn0\.", "${1}.expand.bn."),
        (
            r"^(stages\.\d+\.\d+)\._depthwise_conv\.",
            "${1}.depthwise.conv.",
        ),
        (r"^(stages\.\d+\.\d+)\._bn1\.", "${1}.depthwise.bn."),
        (r"^(stages\.\d+\.\d+)\._se_reduce\.", "${1}.se.fc1."),
        (r"^(stages\.\d+\.\d+)\._se_expand\.", "${1}.se.fc2."),
        (
            r"^(stages\.\d+\.\d+)\._project_conv\.",
            "${1}.project.conv.",
        ),
        (r"^(stages\.\d+\.\d+)\._bn2\.", "${1}.project.bn."),
    ]));
    t
}

/// Keys present in checkpoints that carry no model state and are ignored on import.
pub fn is_ignored_key(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
}
