//! Data parallel training: one batch split across several devices.
//!
//! The scheme is Burn's multi-device strategy with the main-device optimizer
//! (`MultiDeviceOptim::OptimMainDevice`): each step forks the model onto every device, runs
//! forward and backward on that device's shard of the batch in its own thread, moves the
//! gradients to the main device and sums them there; the optimizer steps once, on the main
//! device. kiln runs its own loop (feature cache, stages, global-norm clipping), so it uses
//! Burn's pieces — [`Module::fork`], [`GradientsParams::to_device`],
//! [`GradientsAccumulator`] — rather than the `Learner`.
//!
//! Each shard's loss is weighted by its share of the batch, so the summed gradient is the
//! gradient of the whole batch's mean loss: the same step a single device would take, up to
//! float summation order. Two things differ from one device, as in PyTorch's DDP: losses that
//! normalise by a batch-level quantity (class-weighted cross-entropy divides by the sum of the
//! batch's weights) normalise per shard, and BatchNorm layers that train on batch statistics
//! see each shard's statistics (no SyncBN; Burn merges the running statistics of the
//! threads). With kiln's default frozen BatchNorm the second point does not arise.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};
use kiln_losses::{Loss, Targets, loss_value};
use kiln_models::Backbone;

use crate::error::{Result, TrainError};

/// Split `n` samples into at most `k` contiguous shards of nearly equal size (the first
/// `n % k` shards get one more); empty shards are left out.
pub fn shard_sizes(n: usize, k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    (0..k)
        .map(|i| n / k + usize::from(i < n % k))
        .filter(|&s| s > 0)
        .collect()
}

/// The summed gradients of one batch and its mean loss.
pub struct ShardedStep {
    /// Gradients on the main device, keyed by the model's parameter ids.
    pub grads: GradientsParams,
    /// Mean loss over the whole batch (shard losses weighted by shard size).
    pub loss: f32,
}

/// Forward + backward of `images`/`targets` split across `devices` (autodiff devices; the
/// first is the main one, where `model`, `images` and `targets` live and the gradients end
/// up). A non-finite shard loss gives `Ok(None)`. This is the step [`crate::Finetune::fit_on`]
/// runs; it is public for users who write their own loop.
pub fn sharded_grads(
    model: &Backbone,
    images: Tensor<4>,
    targets: &Targets,
    loss: &Loss,
    devices: &[Device],
) -> Result<Option<ShardedStep>> {
    let main = devices
        .first()
        .ok_or_else(|| TrainError::InvalidConfig("data parallel needs a device".into()))?;
    let n = images.dims()[0];
    let sizes = shard_sizes(n, devices.len());
    let mut shards = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for (&len, device) in sizes.iter().zip(devices) {
        let x = images.clone().narrow(0, start, len).to_device(device);
        let t = match targets {
            Targets::Hard(t) => Targets::Hard(t.clone().narrow(0, start, len).to_device(device)),
            Targets::Soft(t) => Targets::Soft(t.clone().narrow(0, start, len).to_device(device)),
        };
        shards.push((device.clone(), x, t, len as f64 / n as f64));
        start += len;
    }

    let results: Vec<Result<Option<(GradientsParams, f32)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shards
            .into_iter()
            .map(|(device, x, t, share)| {
                let replica = model.clone().fork(&device);
                scope.spawn(move || -> Result<Option<(GradientsParams, f32)>> {
                    let logits = replica.forward(x);
                    let shard_loss = loss.forward(logits, &t)?;
                    let Some(value) = loss_value(&shard_loss).ok().filter(|v| v.is_finite()) else {
                        return Ok(None);
                    };
                    let weighted = shard_loss.mul_scalar(share);
                    let grads = GradientsParams::from_grads(weighted.backward(), &replica)
                        .to_device(main, &replica);
                    Ok(Some((grads, value * share as f32)))
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join().unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(TrainError::Replica {
                        device: format!("{:?}", devices[i]),
                        message,
                    })
                })
            })
            .collect()
    });

    let mut accumulator = GradientsAccumulator::<Backbone>::new();
    let mut total = 0.0f32;
    for r in results {
        match r? {
            Some((grads, value)) => {
                accumulator.accumulate(model, grads);
                total += value;
            }
            None => return Ok(None),
        }
    }
    Ok(Some(ShardedStep {
        grads: accumulator.grads(),
        loss: total,
    }))
}

#[cfg(test)]
mod tests {
    use super::shard_sizes;

    #[test]
    fn shards_cover_the_batch_in_order() {
        assert_eq!(shard_sizes(10, 3), vec![4, 3, 3]);
        assert_eq!(shard_sizes(2, 4), vec![1, 1]);
        assert_eq!(shard_sizes(8, 1), vec![8]);
        assert_eq!(shard_sizes(0, 2), Vec::<usize>::new());
        for n in 0..40 {
            for k in 1..6 {
                let s = shard_sizes(n, k);
                assert_eq!(s.iter().sum::<usize>(), n);
                assert!(s.len() <= k);
                assert!(s.iter().max().unwrap_or(&0) - s.iter().min().unwrap_or(&0) <= 1);
            }
        }
    }
}
