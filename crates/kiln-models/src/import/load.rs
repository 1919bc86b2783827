//! Loading a weight file into a [`Backbone`], with typed errors for every mismatch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn_store::{
    ApplyError, ApplyResult, BurnpackStore, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};

use super::keymap::{is_ignored_key, remaps};
use crate::backbone::Backbone;
use crate::error::{ModelError, Result};
use crate::pretrained::WeightLayout;

/// On-disk format of a weight file, told by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` output, zip (torch ≥ 1.6) or legacy pickle: `.pth`, `.pt`, `.bin`, `.ckpt`.
    Pytorch,
    /// `.safetensors` with PyTorch tensor layout (timm, Hugging Face).
    Safetensors,
    /// Burn's burnpack (`.bpk`): kiln's own checkpoints.
    Burnpack,
}

impl WeightFormat {
    /// The format of `path` by its extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("pth" | "pt" | "bin" | "ckpt" | "tar") => Ok(WeightFormat::Pytorch),
            Some("safetensors") => Ok(WeightFormat::Safetensors),
            Some("bpk" | "burnpack") => Ok(WeightFormat::Burnpack),
            _ => Err(ModelError::UnknownFormat(path.to_path_buf())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            WeightFormat::Pytorch => "PyTorch",
            WeightFormat::Safetensors => "safetensors",
            WeightFormat::Burnpack => "burnpack",
        }
    }
}

/// What to do with the file's classifier head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeadPolicy {
    /// Load it when its class count equals the model's; otherwise keep the model's freshly
    /// initialised head (the transfer-learning case: ImageNet weights, your classes).
    #[default]
    Auto,
    /// Always load it; a class-count difference is a [`ModelError::ShapeMismatch`].
    Require,
    /// Never load it.
    Skip,
}

/// How to read a weight file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Key naming of the file; `None` means the architecture's published layout
    /// (or kiln's own for `.bpk`).
    pub layout: Option<WeightLayout>,
    /// Head handling.
    pub head: HeadPolicy,
    /// Tensors in the file that no parameter takes are an error (default) or ignored.
    pub allow_unexpected: bool,
}

impl LoadOptions {
    /// Set the key layout of the file.
    pub fn layout(mut self, layout: WeightLayout) -> Self {
        self.layout = Some(layout);
        self
    }
    /// Set the head policy.
    pub fn head(mut self, head: HeadPolicy) -> Self {
        self.head = head;
        self
    }
    /// Ignore tensors in the file that no parameter takes.
    pub fn allow_unexpected(mut self, allow: bool) -> Self {
        self.allow_unexpected = allow;
        self
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The file.
    pub path: PathBuf,
    /// Tensors applied to the model.
    pub applied: usize,
    /// Whether the file's head was left out (the model keeps a fresh head).
    pub head_reinitialised: bool,
    /// File tensors deliberately ignored (e.g. `num_batches_tracked`, a discarded head).
    pub ignored: Vec<String>,
}

/// Prefix given to head keys that must not be applied: no parameter has this path.
const DISCARDED: &str = "__discarded_head__.";

impl Backbone {
    /// Load published torchvision weights (`.pth` or `.safetensors`); the head is kept fresh
    /// when its class count differs. Shorthand for [`Backbone::load_weights`] with defaults.
    pub fn load_torchvision(self, path: impl AsRef<Path>) -> Result<Self> {
        let layout = WeightLayout::Torchvision;
        self.load_weights(path, &LoadOptions::default().layout(layout))
            .map(|(m, _)| m)
    }

    /// Load weights from `path` as `options` say; see [`LoadOptions`].
    ///
    /// Every problem is a typed error naming the key: a shape that differs
    /// ([`ModelError::ShapeMismatch`]), a parameter the file lacks
    /// ([`ModelError::MissingKeys`]), a tensor nothing takes ([`ModelError::UnexpectedKeys`]),
    /// a file that cannot be read ([`ModelError::UnreadableCheckpoint`]).
    pub fn load_weights(
        mut self,
        path: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<(Self, LoadReport)> {
        let path = path.as_ref();
        let format = WeightFormat::from_path(path)?;
        std::fs::metadata(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let layout = options.layout.unwrap_or(match format {
            WeightFormat::Burnpack => WeightLayout::Kiln,
            _ => self.pretrained_cfg().weight_layout,
        });
        let mut patterns = remaps(self.arch(), layout);

        let unreadable = |reason: String| ModelError::UnreadableCheckpoint {
            path: path.to_path_buf(),
            format: format.name(),
            reason,
        };

        // Decide about the head before applying: peek at the file's classifier shape.
        let head_key = self.pretrained_cfg().classifier_key;
        let head_weight = format!("{head_key}.weight");
        let file_head_classes = {
            let mut probe = Store::open(path, format, &patterns);
            probe
                .head_rows(&head_weight, format)
                .map_err(|e| unreadable(e.to_string()))?
        };
        let skip_head = match options.head {
            HeadPolicy::Skip => true,
            HeadPolicy::Require => false,
            HeadPolicy::Auto => file_head_classes != Some(self.num_classes()),
        };
        if skip_head {
            patterns.push((
                format!("^{}\\.", regex_escape(&head_key)),
                format!("{DISCARDED}{head_key}."),
            ));
        }

        let mut store = Store::open(path, format, &patterns);
        let result = store
            .apply(&mut self)
            .map_err(|e| unreadable(e.to_string()))?;
        let report = check(result, path, skip_head, &head_key, options)?;
        Ok((self, report))
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

/// Turn burn-store's report into kiln's typed errors.
fn check(
    result: ApplyResult,
    path: &Path,
    skip_head: bool,
    head_key: &str,
    options: &LoadOptions,
) -> Result<LoadReport> {
    if let Some(err) = result.errors.first() {
        return Err(match err {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => ModelError::ShapeMismatch {
                key: path.clone(),
                expected: expected.to_vec(),
                found: found.to_vec(),
            },
            ApplyError::DTypeMismatch {
                path,
                expected,
                found,
            } => ModelError::Apply {
                key: path.clone(),
                reason: format!("dtype {found:?} where {expected:?} is expected"),
            },
            ApplyError::AdapterError { path, message }
            | ApplyError::LoadError { path, message } => ModelError::Apply {
                key: path.clone(),
                reason: message.clone(),
            },
        });
    }
    let head_prefix = format!("{head_key}.");
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| !(skip_head && p.starts_with(&head_prefix)))
        .collect();
    if !missing.is_empty() {
        let unused = result
            .unused
            .iter()
            .filter(|k| !is_ignored_key(k) && !k.starts_with(DISCARDED))
            .cloned()
            .collect();
        return Err(ModelError::MissingKeys {
            keys: missing,
            unused,
        });
    }
    let (ignored, unexpected): (Vec<String>, Vec<String>) = result
        .unused
        .iter()
        .cloned()
        .partition(|k| is_ignored_key(k) || k.starts_with(DISCARDED));
    if !unexpected.is_empty() && !options.allow_unexpected {
        return Err(ModelError::UnexpectedKeys { keys: unexpected });
    }
    let mut ignored: Vec<String> = ignored
        .into_iter()
        .map(|k| k.trim_start_matches(DISCARDED).to_string())
        .chain(unexpected)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ignored.sort();
    Ok(LoadReport {
        path: path.to_path_buf(),
        applied: result.applied.len(),
        head_reinitialised: skip_head,
        ignored,
    })
}

/// The three burn-store readers behind one face.
enum Store {
    Pytorch(PytorchStore),
    Safetensors(SafetensorsStore),
    Burnpack(BurnpackStore),
}

impl Store {
    fn open(path: &Path, format: WeightFormat, patterns: &[(String, String)]) -> Self {
        match format {
            WeightFormat::Pytorch => {
                let mut s = PytorchStore::from_file(path)
                    .map_indices_contiguous(false)
                    .allow_partial(true)
                    .validate(false);
                for (from, to) in patterns {
                    s = s.with_key_remapping(from, to.clone());
                }
                Store::Pytorch(s)
            }
            WeightFormat::Safetensors => {
                let mut s = SafetensorsStore::from_file(path)
                    .with_from_adapter(PyTorchToBurnAdapter)
                    .skip_enum_variants(true)
                    .map_indices_contiguous(false)
                    .allow_partial(true)
                    .validate(false);
                for (from, to) in patterns {
                    s = s.with_key_remapping(from, to.clone());
                }
                Store::Safetensors(s)
            }
            WeightFormat::Burnpack => {
                let mut s = BurnpackStore::from_file(path)
                    .auto_extension(false)
                    .allow_partial(true)
                    .validate(false);
                for (from, to) in patterns {
                    s = s.with_remap_pattern(from.as_str(), to.as_str());
                }
                Store::Burnpack(s)
            }
        }
    }

    /// Output rows of the file's classifier weight, if the file has one.
    fn head_rows(&mut self, key: &str, format: WeightFormat) -> Result<Option<usize>, String> {
        let shape = match self {
            Store::Pytorch(s) => s
                .get_tensor(key)
                .map_err(|e| e.to_string())?
                .map(|t| t.shape.to_vec()),
            Store::Safetensors(s) => s
                .get_tensor(key)
                .map_err(|e| e.to_string())?
                .map(|t| t.shape.to_vec()),
            Store::Burnpack(s) => s
                .get_tensor(key)
                .map_err(|e| e.to_string())?
                .map(|t| t.shape.to_vec()),
        };
        // PyTorch stores Linear as [out, in]; Burn as [in, out].
        Ok(shape.and_then(|s| match (format, s.as_slice()) {
            (WeightFormat::Burnpack, [_, out]) => Some(*out),
            (_, [out, _]) => Some(*out),
            _ => None,
        }))
    }

    fn apply(&mut self, model: &mut Backbone) -> Result<ApplyResult, String> {
        match self {
            Store::Pytorch(s) => model.load_from(s).map_err(|e| e.to_string()),
            Store::Safetensors(s) => model.load_from(s).map_err(|e| e.to_string()),
            Store::Burnpack(s) => model.load_from(s).map_err(|e| e.to_string()),
        }
    }
}
