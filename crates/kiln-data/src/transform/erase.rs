//! RandomErasing (Zhong et al. 2020) on the normalised CHW output.
//!
//! Erasing after normalisation (as torchvision and timm do) means a zero fill is the dataset
//! mean colour, and the "random" fill is per-pixel N(0, 1) noise in normalised units.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::rng::Rng;

/// What erased pixels become.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EraseValue {
    /// Zero (the mean colour after normalisation).
    #[default]
    Zero,
    /// Per-pixel, per-channel standard normal noise (timm's `mode="pixel"`).
    Random,
    /// A constant per channel, in normalised units.
    Constant([f32; 3]),
}

/// Erases one random rectangle with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomErasing {
    /// Probability of erasing.
    pub p: f32,
    /// Range of the erased area as a fraction of the image.
    pub scale: [f32; 2],
    /// Range of the erased rectangle's height / width (log-uniform).
    pub ratio: [f32; 2],
    /// Fill.
    pub value: EraseValue,
}

impl Default for RandomErasing {
    fn default() -> Self {
        RandomErasing {
            p: 0.5,
            scale: [0.02, 0.33],
            ratio: [0.3, 3.3],
            value: EraseValue::Zero,
        }
    }
}

impl RandomErasing {
    /// torchvision defaults with probability `p`.
    pub fn new(p: f32) -> Self {
        RandomErasing {
            p,
            ..Default::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let ok = (0.0..=1.0).contains(&self.p)
            && self.scale[0] > 0.0
            && self.scale[0] <= self.scale[1]
            && self.scale[1] <= 1.0
            && self.ratio[0] > 0.0
            && self.ratio[0] <= self.ratio[1];
        if ok {
            Ok(())
        } else {
            Err(DataError::InvalidConfig(format!(
                "RandomErasing needs p in [0,1], 0 < scale0 <= scale1 <= 1, 0 < ratio0 <= ratio1: {self:?}"
            )))
        }
    }

    /// Erases in place on a `[c, h, w]` CHW buffer. Returns the erased `(top, left, height,
    /// width)`, if any.
    pub fn apply(
        &self,
        data: &mut [f32],
        chw: [usize; 3],
        rng: &mut Rng,
    ) -> Option<(usize, usize, usize, usize)> {
        let [c, h, w] = chw;
        if !rng.bernoulli(self.p as f64) {
            return None;
        }
        let area = (h * w) as f64;
        let (l0, l1) = ((self.ratio[0] as f64).ln(), (self.ratio[1] as f64).ln());
        for _ in 0..10 {
            let target = area * rng.uniform(self.scale[0] as f64, self.scale[1] as f64);
            let ar = rng.uniform(l0, l1).exp();
            let eh = (target * ar).sqrt().round() as usize;
            let ew = (target / ar).sqrt().round() as usize;
            if eh == 0 || ew == 0 || eh >= h || ew >= w {
                continue;
            }
            let top = rng.below(h - eh + 1);
            let left = rng.below(w - ew + 1);
            for ch in 0..c {
                for y in top..top + eh {
                    let row = &mut data[ch * h * w + y * w + left..ch * h * w + y * w + left + ew];
                    match self.value {
                        EraseValue::Zero => row.fill(0.0),
                        EraseValue::Constant(v) => row.fill(v[ch.min(2)]),
                        EraseValue::Random => row.iter_mut().for_each(|v| *v = rng.normal() as f32),
                    }
                }
            }
            return Some((top, left, eh, ew));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erases_a_rectangle_of_the_right_size() {
        let e = RandomErasing::new(1.0);
        let (c, h, w) = (3, 40, 50);
        let mut hits = 0;
        for seed in 0..50 {
            let mut d = vec![1.0f32; c * h * w];
            if let Some((t, l, eh, ew)) = e.apply(&mut d, [c, h, w], &mut Rng::new(seed)) {
                hits += 1;
                let zeros = d.iter().filter(|v| **v == 0.0).count();
                assert_eq!(zeros, c * eh * ew);
                assert_eq!(d[t * w + l], 0.0);
                let frac = (eh * ew) as f64 / (h * w) as f64;
                assert!(frac > 0.01 && frac < 0.36, "{frac}");
            }
        }
        assert!(hits > 40);
        let mut d = vec![1.0f32; c * h * w];
        assert!(
            RandomErasing::new(0.0)
                .apply(&mut d, [c, h, w], &mut Rng::new(1))
                .is_none()
        );
    }
}
