//! Key remaps, as data: `(regex, replacement)` pairs from a file's naming to kiln's paths.
//!
//! kiln's modules carry torchvision's names, so the torchvision table only renames what Rust
//! cannot spell (a field called `0`). Other layouts (timm, efficientnet_pytorch) are further
//! tables onto the same modules.

use crate::pretrained::WeightLayout;
use crate::registry::{Arch, Family};

/// The remaps that turn `layout`'s keys for `arch` into kiln module paths, applied in order.
pub fn remaps(arch: Arch, layout: WeightLayout) -> Vec<(&'static str, &'static str)> {
    match (arch.family(), layout) {
        (_, WeightLayout::Kiln) => vec![],
        (Family::ResNet, _) => vec![
            (r"\.downsample\.0\.", ".downsample.conv."),
            (r"\.downsample\.1\.", ".downsample.bn."),
        ],
    }
}

/// Keys present in checkpoints that carry no model state and are ignored on import.
pub fn is_ignored_key(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
}
