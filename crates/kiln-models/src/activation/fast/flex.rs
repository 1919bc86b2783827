//! The flex (CPU) kernels of [`FastActivation`] and [`FastBackward`]: f32, contiguous,
//! rayon over chunks or NCHW planes; anything else falls back to burn-flex's ops.

use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::{ACT_RELU, ACT_RELU6, ACT_SILU, FastActivation, FastBackward, composed};

/// Elements per rayon task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 15;

/// `e^x` for f32, vectorisable: `x = n·ln2 + r`, `e^r` by a degree-6 Taylor/Horner polynomial
/// on `|r| ≤ ln2/2`, `2^n` assembled in the exponent bits. Inputs are clamped to
/// `[-87.3, 88.0]` so `2^n` stays a normal float (no infinities, no denormals; beyond the range the
/// result saturates, which moves a sigmoid by less than 1e-38).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 · 2^23: adding it rounds to the nearest integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// A contiguous f32 view of a flex tensor (copying only if it is a strided view).
fn contiguous(x: FloatTensor<Flex>) -> FloatTensor<Flex> {
    match x.layout().contiguous_offsets() {
        Some(_) => x,
        None => x.to_contiguous(),
    }
}

fn values(x: &FloatTensor<Flex>) -> &[f32] {
    let (start, end) = x
        .layout()
        .contiguous_offsets()
        .unwrap_or((0, x.shape().num_elements()));
    &x.storage::<f32>()[start..end]
}

fn map1(x: FloatTensor<Flex>, f: impl Fn(f32) -> f32 + Sync) -> FloatTensor<Flex> {
    let mut x = contiguous(x);
    // A tensor nothing else holds (the usual case at inference) is overwritten in place: no
    // new buffer, no page faults.
    if let Some((start, end)) = x.layout().contiguous_offsets()
        && let Some(buf) = x.try_storage_mut::<f32>()
    {
        buf[start..end].par_chunks_mut(CHUNK).for_each(|c| {
            for v in c {
                *v = f(*v);
            }
        });
        return x;
    }
    let shape = x.shape();
    let src = values(&x);
    let mut out = vec![0f32; src.len()];
    out.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(o, i)| {
            for (o, &v) in o.iter_mut().zip(i) {
                *o = f(v);
            }
        });
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

fn map2(
    a: FloatTensor<Flex>,
    b: FloatTensor<Flex>,
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> FloatTensor<Flex> {
    let (a, b) = (contiguous(a), contiguous(b));
    let shape = a.shape();
    let (x, y) = (values(&a), values(&b));
    assert_eq!(x.len(), y.len(), "fast activation backward: shape mismatch");
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
        .for_each(|(o, (i, j))| {
            for ((o, &u), &v) in o.iter_mut().zip(i).zip(j) {
                *o = f(u, v);
            }
        });
    FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
}

fn is_f32(x: &FloatTensor<Flex>) -> bool {
    x.dtype() == DType::F32
}

impl FastActivation for Flex {
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) {
            return <Flex as ActivationOps<Flex>>::sigmoid(x);
        }
        map1(x, sigmoid_f32)
    }

    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) {
            return composed::silu::<Flex>(x);
        }
        map1(x, |v| v * sigmoid_f32(v))
    }

    fn fast_bn_act(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: u8,
    ) -> FloatTensor<Self> {
        let shape = x.shape();
        if !is_f32(&x) || shape.num_dims() != 4 || a.shape().num_elements() != shape[1] {
            return composed::bn_act::<Flex>(x, a, b, act);
        }
        let (mut x, a, b) = (contiguous(x), contiguous(a), contiguous(b));
        let (c, hw) = (shape[1], shape[2] * shape[3]);
        let (av, bv) = (values(&a), values(&b));
        let plane_len = (CHUNK / hw.max(1)).max(1);
        let scale_shift = |plane: usize| (av[plane % c], bv[plane % c]);
        // In place when nothing else holds `x` (inference).
        if hw > 0
            && let Some((start, end)) = x.layout().contiguous_offsets()
            && let Some(buf) = x.try_storage_mut::<f32>()
        {
            buf[start..end]
                .par_chunks_mut(hw)
                .enumerate()
                .with_min_len(plane_len)
                .for_each(|(plane, o)| bn_act_plane(act, scale_shift(plane), o, None));
            return x;
        }
        let src = values(&x);
        let mut out = vec![0f32; src.len()];
        if hw > 0 {
            out.par_chunks_mut(hw)
                .zip(src.par_chunks(hw))
                .enumerate()
                .with_min_len(plane_len)
                .for_each(|(plane, (o, i))| bn_act_plane(act, scale_shift(plane), o, Some(i)));
        }
        FloatTensor::<Flex>::from_data(TensorData::new(out, shape))
    }

    fn fast_bn_train_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if !fused_train_applies(&x, &gamma) {
            return composed::bn_train_act::<Flex>(x, gamma, beta, epsilon, act);
        }
        bn_train_act_f32(x, gamma, beta, epsilon, act)
    }
}

/// Per-channel sums over the planes of an NCHW buffer: `f(plane_values, channel)` gives a
/// plane's `(Σ, Σ)` pair; planes run in parallel, channels reduce serially.
fn channel_sums(
    values: &[f32],
    c: usize,
    hw: usize,
    f: impl Fn(&[f32], usize) -> (f64, f64) + Sync,
) -> (Vec<f64>, Vec<f64>) {
    let partial: Vec<(f64, f64)> = values
        .par_chunks(hw)
        .enumerate()
        .with_min_len((CHUNK / hw).max(1))
        .map(|(plane, v)| f(v, plane % c))
        .collect();
    sum_by_channel(partial, c)
}

/// Adds per-plane `(Σ, Σ)` pairs (plane `p` of an NCHW buffer is channel `p % c`) into
/// per-channel totals.
fn sum_by_channel(partial: Vec<(f64, f64)>, c: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut s1, mut s2) = (vec![0f64; c], vec![0f64; c]);
    for (plane, (a, b)) in partial.into_iter().enumerate() {
        s1[plane % c] += a;
        s2[plane % c] += b;
    }
    (s1, s2)
}

/// A `[len]` f32 tensor from f64 values.
fn f64_tensor(v: Vec<f64>) -> FloatTensor<Flex> {
    vec_tensor(v.into_iter().map(|x| x as f32).collect())
}

fn vec_tensor(v: Vec<f32>) -> FloatTensor<Flex> {
    let n = v.len();
    FloatTensor::<Flex>::from_data(TensorData::new(v, [n]))
}

/// Whether the fused training kernels apply: f32, 4-D, non-empty planes, `[C]` parameters.
fn fused_train_applies(x: &FloatTensor<Flex>, gamma: &FloatTensor<Flex>) -> bool {
    let shape = x.shape();
    is_f32(x)
        && is_f32(gamma)
        && shape.num_dims() == 4
        && shape[2] * shape[3] > 0
        && shape[0] > 0
        && gamma.shape().num_elements() == shape[1]
}

/// Flex's fused training BatchNorm forward: per-channel sums in one parallel pass, then the
/// folded scale/shift + activation pass.
fn bn_train_act_f32(
    x: FloatTensor<Flex>,
    gamma: FloatTensor<Flex>,
    beta: FloatTensor<Flex>,
    epsilon: f64,
    act: u8,
) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
    let shape = x.shape();
    let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
    let count = (n * hw) as f64;
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let (sum, sumsq) = channel_sums(values(&x), c, hw, |v, _| {
        v.iter().fold((0f64, 0f64), |(a, b), &x| {
            let x = f64::from(x);
            (a + x, b + x * x)
        })
    });
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let var: Vec<f64> = sumsq
        .iter()
        .zip(&mean)
        .map(|(q, m)| (q / count - m * m).max(0.0))
        .collect();
    let (g, bt) = (values(&gamma), values(&beta));
    let a: Vec<f32> = (0..c)
        .map(|j| (f64::from(g[j]) / (var[j] + epsilon).sqrt()) as f32)
        .collect();
    let b: Vec<f32> = (0..c)
        .map(|j| (f64::from(bt[j]) - mean[j] * f64::from(a[j])) as f32)
        .collect();
    let y = <Flex as FastActivation>::fast_bn_act(x, vec_tensor(a), vec_tensor(b), act);
    (
        y,
        vec_tensor(mean.into_iter().map(|v| v as f32).collect()),
        vec_tensor(var.into_iter().map(|v| v as f32).collect()),
    )
}

/// `act(v · s + t)` over one NCHW plane: from `input` into `out`, or in place without input.
#[inline(always)]
fn bn_act_plane(act: u8, (s, t): (f32, f32), out: &mut [f32], input: Option<&[f32]>) {
    match act {
        ACT_RELU => map_plane(out, input, |v| (v * s + t).max(0.0)),
        ACT_RELU6 => map_plane(out, input, |v| (v * s + t).clamp(0.0, 6.0)),
        ACT_SILU => map_plane(out, input, |v| {
            let z = v * s + t;
            z * sigmoid_f32(z)
        }),
        _ => map_plane(out, input, |v| v * s + t),
    }
}

/// `out[i] = f(input[i])`, or `out[i] = f(out[i])` without input; one loop per activation, so
/// each vectorises on its own.
#[inline(always)]
fn map_plane(out: &mut [f32], input: Option<&[f32]>, f: impl Fn(f32) -> f32) {
    match input {
        Some(input) => {
            for (o, &v) in out.iter_mut().zip(input) {
                *o = f(v);
            }
        }
        None => {
            for o in out {
                *o = f(*o);
            }
        }
    }
}

/// Derivative of the activation at pre-activation `z`.
#[inline(always)]
fn act_grad(act: u8, z: f32) -> f32 {
    match act {
        ACT_RELU => f32::from(u8::from(z > 0.0)),
        ACT_RELU6 => f32::from(u8::from(z > 0.0 && z < 6.0)),
        ACT_SILU => {
            let s = sigmoid_f32(z);
            s * (1.0 + z * (1.0 - s))
        }
        _ => 1.0,
    }
}

impl FastBackward for Flex {
    fn sigmoid_backward_fast(s: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&s) || !is_f32(&grad) || s.shape() != grad.shape() {
            return <Flex as ActivationOps<Flex>>::sigmoid_backward(s, grad);
        }
        map2(s, grad, |s, g| g * s * (1.0 - s))
    }

    fn silu_backward_fast(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if !is_f32(&x) || !is_f32(&grad) || x.shape() != grad.shape() {
            return composed::silu_backward::<Flex>(x, grad);
        }
        map2(x, grad, |x, g| {
            let s = sigmoid_f32(x);
            g * s * (1.0 + x * (1.0 - s))
        })
    }

    fn bn_act_backward_fast(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let shape = x.shape();
        let (c, hw) = (shape[1], shape[2] * shape[3]);
        let (x, a, b, grad) = (
            contiguous(x),
            contiguous(a),
            contiguous(b),
            contiguous(grad),
        );
        let (xv, av, bv, gv) = (values(&x), values(&a), values(&b), values(&grad));
        let mut dx = vec![0f32; xv.len()];
        let (mut da, mut db) = (vec![0f64; c], vec![0f64; c]);
        if hw > 0 {
            // Per plane (n, c): dx, and the plane's share of Σ dz·x and Σ dz.
            let partial: Vec<(f64, f64)> = dx
                .par_chunks_mut(hw)
                .zip(xv.par_chunks(hw).zip(gv.par_chunks(hw)))
                .enumerate()
                .with_min_len((CHUNK / hw).max(1))
                .map(|(plane, (o, (xi, gi)))| {
                    let (s, t) = (av[plane % c], bv[plane % c]);
                    let (mut sa, mut sb) = (0f64, 0f64);
                    for ((o, &v), &g) in o.iter_mut().zip(xi).zip(gi) {
                        let dz = g * act_grad(act, v * s + t);
                        *o = dz * s;
                        sa += f64::from(dz * v);
                        sb += f64::from(dz);
                    }
                    (sa, sb)
                })
                .collect();
            (da, db) = sum_by_channel(partial, c);
        }
        (
            FloatTensor::<Flex>::from_data(TensorData::new(dx, shape)),
            f64_tensor(da),
            f64_tensor(db),
        )
    }

    fn bn_train_act_backward_fast(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let shape = x.shape();
        let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
        let count = (n * hw) as f64;
        let [x, gamma, beta, mean, variance, grad] =
            [x, gamma, beta, mean, variance, grad].map(contiguous);
        let (xv, gv) = (values(&x), values(&grad));
        let (gm, bt, mu, var) = (
            values(&gamma),
            values(&beta),
            values(&mean),
            values(&variance),
        );
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (f64::from(*v) + epsilon).sqrt()) as f32)
            .collect();
        let a: Vec<f32> = (0..c).map(|j| gm[j] * inv_std[j]).collect();
        let b: Vec<f32> = (0..c).map(|j| bt[j] - mu[j] * a[j]).collect();
        // Pass 1: Σ dz and Σ dz·x̂ per channel, dz = grad · act'(x·a + b).
        let partial: Vec<(f64, f64)> = xv
            .par_chunks(hw)
            .zip(gv.par_chunks(hw))
            .enumerate()
            .with_min_len((CHUNK / hw).max(1))
            .map(|(plane, (xi, gi))| {
                let j = plane % c;
                let (s, t, m, is) = (a[j], b[j], mu[j], inv_std[j]);
                let (mut sdz, mut sdzx) = (0f64, 0f64);
                for (&v, &g) in xi.iter().zip(gi.iter()) {
                    let dz = g * act_grad(act, v * s + t);
                    sdz += f64::from(dz);
                    sdzx += f64::from(dz * (v - m) * is);
                }
                (sdz, sdzx)
            })
            .collect();
        let (dbeta, dgamma) = sum_by_channel(partial, c);
        let mean_dz: Vec<f32> = dbeta.iter().map(|v| (v / count) as f32).collect();
        let mean_dzx: Vec<f32> = dgamma.iter().map(|v| (v / count) as f32).collect();
        // Pass 2: dx = a · (dz − mean(dz) − x̂ · mean(dz·x̂)).
        let mut dx = vec![0f32; xv.len()];
        dx.par_chunks_mut(hw)
            .zip(xv.par_chunks(hw).zip(gv.par_chunks(hw)))
            .enumerate()
            .with_min_len((CHUNK / hw).max(1))
            .for_each(|(plane, (o, (xi, gi)))| {
                let j = plane % c;
                let (s, t, m, is, mdz, mdzx) =
                    (a[j], b[j], mu[j], inv_std[j], mean_dz[j], mean_dzx[j]);
                for ((o, &v), &g) in o.iter_mut().zip(xi).zip(gi) {
                    let dz = g * act_grad(act, v * s + t);
                    *o = s * (dz - mdz - (v - m) * is * mdzx);
                }
            });
        (
            FloatTensor::<Flex>::from_data(TensorData::new(dx, shape)),
            f64_tensor(dgamma),
            f64_tensor(dbeta),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate_over_the_whole_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((f64::from(exp_f32(x)) - f64::from(x).exp()) / f64::from(x).exp()).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(1000.0).is_finite());
        assert_eq!(sigmoid_f32(-1000.0).max(0.0), sigmoid_f32(-1000.0));
        assert!((sigmoid_f32(1000.0) - 1.0).abs() < 1e-7);
    }
}
