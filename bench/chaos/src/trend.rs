//! Whether a quantity sampled over time is flat: the least-squares slope of
//! the samples, so that one noisy sample (an allocator returning a page, a
//! buffer growing for a moment) moves the verdict far less than a steady
//! climb does.

/// The least-squares slope of `samples` (seconds since the start, value),
/// in value units per minute; `None` with fewer than two samples or all of
/// them at the same time, where no slope exists.
pub fn slope_per_minute(samples: &[(f64, f64)]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_v = samples.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (t, v) in samples {
        covariance += (t - mean_t) * (v - mean_v);
        variance += (t - mean_t) * (t - mean_t);
    }
    (variance > 0.0).then(|| covariance / variance * 60.0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn a_constant_has_no_slope() {
        let samples: Vec<_> = (0..10).map(|s| (s as f64 * 5.0, 8000.0)).collect();
        assert_eq!(slope_per_minute(&samples), Some(0.0));
    }

    #[test]
    fn a_steady_climb_is_measured_per_minute() {
        // 2 KiB every 5 s is 24 KiB a minute.
        let samples: Vec<_> = (0..10)
            .map(|s| (s as f64 * 5.0, 8000.0 + 2.0 * s as f64))
            .collect();
        assert!(close(slope_per_minute(&samples).unwrap(), 24.0));
    }

    #[test]
    fn one_outlier_moves_the_slope_less_than_a_climb() {
        // A single 512 KiB bump in the middle of 120 samples over 10 min.
        let mut samples: Vec<_> = (0..120).map(|s| (s as f64 * 5.0, 8000.0)).collect();
        samples[60].1 += 512.0;
        let slope = slope_per_minute(&samples).unwrap();
        assert!(slope.abs() < 1.0, "{slope}");
    }

    #[test]
    fn too_few_or_simultaneous_samples_have_no_slope() {
        assert_eq!(slope_per_minute(&[]), None);
        assert_eq!(slope_per_minute(&[(1.0, 5.0)]), None);
        assert_eq!(slope_per_minute(&[(1.0, 5.0), (1.0, 9.0)]), None);
    }

    proptest! {
        #[test]
        fn a_line_is_recovered_exactly(
            intercept in -1e6f64..1e6,
            per_minute in -1e4f64..1e4,
            n in 2usize..200,
            step in 0.5f64..30.0,
        ) {
            let samples: Vec<_> = (0..n)
                .map(|i| {
                    let t = i as f64 * step;
                    (t, intercept + per_minute * t / 60.0)
                })
                .collect();
            let got = slope_per_minute(&samples).unwrap();
            prop_assert!((got - per_minute).abs() <= 1e-6 * (1.0 + per_minute.abs() + intercept.abs()),
                "{got} vs {per_minute}");
        }

        #[test]
        fn adding_a_constant_changes_nothing(
            values in prop::collection::vec(0f64..1e5, 2..50),
            shift in -1e5f64..1e5,
        ) {
            let base: Vec<_> = values.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
            let shifted: Vec<_> = base.iter().map(|(t, v)| (*t, v + shift)).collect();
            let (a, b) = (slope_per_minute(&base).unwrap(), slope_per_minute(&shifted).unwrap());
            prop_assert!((a - b).abs() <= 1e-6 * (1.0 + a.abs()) + 1e-3, "{a} vs {b}");
        }
    }
}
