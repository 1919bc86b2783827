//! Label-noise tooling on image folders: which training images are probably mislabeled.
//!
//! [`find_label_issues`] runs a model over a dataset with the evaluation transform and hands
//! the probabilities to kiln-metrics' [`rank_suspects`] (every image, most suspicious first)
//! and [`confident_learning`] (the images it flags, and the estimated noise rate). Use a model
//! that did not memorise the labels it is judging: the best checkpoint of a short fine-tune
//! with label smoothing (what [`crate::Finetune`] returns), or — better — one model per fold
//! of `Dataset::kfold`, each judging the fold it did not train on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;
use burn::tensor::activation::softmax;
use kiln_data::transform::{SampleTransform, eval_transform};
use kiln_data::{DataLoader, Dataset, LoaderConfig, Preprocess};
use kiln_metrics::{ConfidentLearning, Suspect, confident_learning, rank_suspects};
use kiln_models::Backbone;
use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::error::{Result, TrainError};

/// One image and the doubt about its label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelIssue {
    /// Index in the dataset.
    pub index: usize,
    /// Image file.
    pub path: PathBuf,
    /// The folder's label.
    pub given: String,
    /// The model's most probable class.
    pub predicted: String,
    /// Probability of the given label.
    pub self_confidence: f32,
    /// `-ln p(given)`.
    pub loss: f64,
    /// `p(given) − max other p`.
    pub margin: f32,
    /// Flagged by confident learning.
    pub flagged: bool,
}

/// What [`find_label_issues`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseReport {
    /// Class names.
    pub classes: Vec<String>,
    /// Every image that loaded, most suspicious first.
    pub ranked: Vec<LabelIssue>,
    /// Thresholds, confident joint, estimated noise rate (its `issues` use dataset indices).
    pub confident: ConfidentLearning,
    /// Images that could not be read (left out).
    pub unreadable: Vec<PathBuf>,
}

impl NoiseReport {
    /// The images confident learning flags, most suspicious first.
    pub fn flagged(&self) -> impl Iterator<Item = &LabelIssue> {
        self.ranked.iter().filter(|s| s.flagged)
    }

    /// `rank,path,given,predicted,self_confidence,loss,margin,flagged`, one row per image,
    /// written atomically.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut out =
            String::from("rank,path,given,predicted,self_confidence,loss,margin,flagged\n");
        for (rank, s) in self.ranked.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{},{},{:.6},{:.6},{:.6},{}\n",
                rank + 1,
                csv_field(&s.path.to_string_lossy()),
                csv_field(&s.given),
                csv_field(&s.predicted),
                s.self_confidence,
                s.loss,
                s.margin,
                s.flagged
            ));
        }
        write_atomic(path, out.as_bytes())
    }
}

/// Quote a CSV field when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Softmax probabilities of `model` over `data` with the evaluation transform: the dataset
/// index of each row and the row-major `[rows, K]` matrix; unreadable images are left out
/// (their paths returned).
pub fn predict_probs(
    model: &Backbone,
    data: &Dataset,
    preprocess: &Preprocess,
    batch_size: usize,
    device: &Device,
) -> Result<(Vec<usize>, Vec<f32>, Vec<PathBuf>)> {
    let transform: Arc<dyn SampleTransform> = Arc::new(eval_transform(preprocess));
    let loader = DataLoader::from_arc(
        Arc::new(data.clone()),
        transform,
        LoaderConfig::eval(batch_size.max(1)),
    )?;
    let mut indices = Vec::with_capacity(data.len());
    let mut probs = Vec::with_capacity(data.len() * data.num_classes());
    let mut unreadable = Vec::new();
    for batch in loader.epoch(0, device) {
        let batch = batch?;
        unreadable.extend(batch.failures.iter().map(|f| f.path.clone()));
        if batch.indices.is_empty() {
            continue;
        }
        let p = softmax(model.forward(batch.images), 1)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::InvalidConfig(format!("{e:?}")))?;
        probs.extend(p);
        indices.extend(batch.indices);
    }
    Ok((indices, probs, unreadable))
}

/// Rank every image of `data` by how doubtful its label is and run confident learning.
pub fn find_label_issues(
    model: &Backbone,
    data: &Dataset,
    preprocess: &Preprocess,
    batch_size: usize,
    device: &Device,
) -> Result<NoiseReport> {
    let k = data.num_classes();
    if model.num_classes() != k {
        return Err(TrainError::InvalidConfig(format!(
            "the model has {} classes, the data {k}",
            model.num_classes()
        )));
    }
    let (rows, probs, unreadable) = predict_probs(model, data, preprocess, batch_size, device)?;
    let samples = data.samples();
    let labels: Vec<usize> = rows.iter().map(|&i| samples[i].label).collect();
    let ranked = rank_suspects(&probs, &labels, k)?;
    let mut confident = confident_learning(&probs, &labels, k)?;
    let mut flagged = vec![false; rows.len()];
    for s in &mut confident.issues {
        flagged[s.index] = true;
        s.index = rows[s.index];
    }
    let classes = data.classes().to_vec();
    let name = |c: usize| classes.get(c).cloned().unwrap_or_else(|| c.to_string());
    let issue = |s: &Suspect| LabelIssue {
        index: rows[s.index],
        path: samples[rows[s.index]].path.clone(),
        given: name(s.given),
        predicted: name(s.predicted),
        self_confidence: s.self_confidence,
        loss: s.loss,
        margin: s.margin,
        flagged: flagged[s.index],
    };
    let ranked = ranked.iter().map(issue).collect();
    Ok(NoiseReport {
        classes,
        ranked,
        confident,
        unreadable,
    })
}
