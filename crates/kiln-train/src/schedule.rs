//! Learning-rate schedule: linear warm-up, then cosine decay — a pure function of the step,
//! so a resumed run needs no scheduler state to continue exactly.

/// Learning rate at `step` (0-based) of `total` steps with `warmup` warm-up steps, peak
/// `peak` and floor `peak · min_fraction`.
pub fn warmup_cosine(
    step: usize,
    total: usize,
    warmup: usize,
    peak: f64,
    min_fraction: f64,
) -> f64 {
    let floor = peak * min_fraction;
    if total == 0 {
        return peak;
    }
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let t = ((step - warmup) as f64 / span as f64).min(1.0);
    floor + 0.5 * (peak - floor) * (1.0 + (std::f64::consts::PI * t).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_the_floor() {
        let lr: Vec<f64> = (0..100)
            .map(|s| warmup_cosine(s, 100, 10, 1.0, 0.01))
            .collect();
        assert!((lr[0] - 0.1).abs() < 1e-12);
        assert!((lr[9] - 1.0).abs() < 1e-12);
        assert!(lr[10..].windows(2).all(|w| w[1] <= w[0] + 1e-12));
        assert!(lr[99] > 0.01 && lr[99] < 0.02);
    }
}
