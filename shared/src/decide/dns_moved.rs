//! When DNS has moved, beyond chance. A switch's own confirmation (the drain alarm in ALARM, a
//! change INSYNC, a routing control read back Off) says only that the switch moved; clients see
//! what Route 53 answers. Two facts say that:
//!
//! - Route 53's health checkers: the record's health check must be unhealthy (drain) or healthy
//!   (restore) by its checkers. Route 53 "considers the endpoint healthy" when "more than 18% of
//!   health checkers report that [it] is healthy" ("How Amazon Route 53 determines whether a
//!   health check is healthy"), so a drain counts when at most 18% still say healthy, and a
//!   restore when a majority say healthy.
//! - Its answers: a weighted name answers one record per query, chosen at random by weight
//!   among the healthy records ("Weighted routing"). While the region is still answered with
//!   weight `w` beside others of total `W`, one answer leaves it out by chance with probability
//!   `W / (W + w)`; `n` answers in a row without it happen by chance with that probability to
//!   the `n`. The drain counts after enough answers in a row for that to be under
//!   [`FALSE_POSITIVE_BOUND`], counted from the last answer that still held the region.

/// The largest chance that a drain is taken for done while Route 53 still answers the region.
pub const FALSE_POSITIVE_BOUND: f64 = 0.001;

/// Route 53's threshold: healthy while more than this share of its checkers say healthy.
pub const HEALTHY_SHARE: f64 = 0.18;

/// The most answers a confirmation asks for: beyond it (a region with a tiny weight beside
/// large ones) chance cannot be ruled out within Route 53's request rate, and the checkers'
/// verdict alone is not enough to call it done.
pub const MAX_SAMPLES: u32 = 100;

/// How many answers in a row without the region rule out chance, when the region is answered
/// with `weight` beside `others` (the other serving records' weights) and the wait may take up
/// to `looks` answers. `None`: no number of answers up to [`MAX_SAMPLES`] does (or no other
/// record serves, so "without the region" has no meaning).
pub fn answers_needed(weight: i64, others: i64, looks: u32) -> Option<u32> {
    if others <= 0 {
        return None;
    }
    if weight <= 0 {
        // Route 53 never picks a weight-0 record while another serves: one answer shows it.
        return Some(1);
    }
    let by_chance = others as f64 / (others + weight) as f64;
    let per_look = FALSE_POSITIVE_BOUND / f64::from(looks.max(1));
    let n = (per_look.ln() / by_chance.ln()).ceil();
    (n.is_finite() && n >= 1.0 && n <= f64::from(MAX_SAMPLES)).then_some(n as u32)
}

/// Whether the checkers' observations (`true` = reports healthy) show the wanted state: drained
/// when at most [`HEALTHY_SHARE`] say healthy, restored when a majority do. No observation
/// shows nothing.
pub fn checkers_agree(healthy: &[bool], drained: bool) -> bool {
    if healthy.is_empty() {
        return false;
    }
    let share = healthy.iter().filter(|h| **h).count() as f64 / healthy.len() as f64;
    if drained { share <= HEALTHY_SHARE } else { share > 0.5 }
}

/// Consecutive answers at the end of `answers` (`true` = held the region) that did not hold
/// it: the run that counts towards [`answers_needed`].
pub fn clean_run(answers: &[bool]) -> u32 {
    answers.iter().rev().take_while(|held| !**held).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_need_ten_clean_answers_and_a_tiny_weight_cannot_be_ruled_out() {
        // One look: (1/2)^10 < 0.001 < (1/2)^9.
        assert_eq!(answers_needed(100, 100, 1), Some(10));
        // 200 looks (40 s at five answers a second): 200 * (1/2)^18 < 0.001.
        assert_eq!(answers_needed(100, 100, 200), Some(18));
        assert_eq!(answers_needed(100, 300, 1), Some(25));
        assert_eq!(answers_needed(0, 100, 200), Some(1));
        assert_eq!(answers_needed(100, 0, 1), None, "no other record: nothing to tell apart");
        assert_eq!(
            answers_needed(1, 1000, 1),
            None,
            "beyond the answers Route 53's request rate allows"
        );
        for (w, o, looks) in [(100, 100, 1), (50, 150, 10), (25, 75, 200)] {
            let n = answers_needed(w, o, looks).unwrap();
            let p = o as f64 / (o + w) as f64;
            let bound = FALSE_POSITIVE_BOUND / f64::from(looks);
            assert!(p.powi(n as i32) < bound && p.powi(n as i32 - 1) >= bound, "{w}/{o}/{looks}: {n}");
        }
    }

    #[test]
    fn a_drain_needs_at_most_18_percent_healthy_checkers_and_a_restore_a_majority() {
        let obs = |healthy: usize, total: usize| (0..total).map(|i| i < healthy).collect::<Vec<_>>();
        assert!(checkers_agree(&obs(1, 8), true), "12.5% healthy: Route 53 says unhealthy");
        assert!(!checkers_agree(&obs(2, 8), true), "25% healthy: still healthy to Route 53");
        assert!(checkers_agree(&obs(5, 8), false));
        assert!(!checkers_agree(&obs(4, 8), false));
        assert!(
            !checkers_agree(&[], true) && !checkers_agree(&[], false),
            "no observation shows nothing"
        );
    }

    #[test]
    fn the_run_counts_from_the_last_answer_that_held_the_region() {
        assert_eq!(clean_run(&[false, false, true, false, false, false]), 3);
        assert_eq!(clean_run(&[false, true]), 0);
        assert_eq!(clean_run(&[]), 0);
    }

    /// 200 simulated drains with 50/50 weights, Route 53 switching after a random number of
    /// answers: a drain is never called before the switch more often than the bound allows
    /// (here: never, with this seed), and always called once it holds.
    #[test]
    fn over_200_simulated_drains_at_50_50_none_is_called_before_route53_moved() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let need = answers_needed(100, 100, 200).unwrap();
        let mut early = 0;
        for _ in 0..200 {
            let switch_at = (next() % 40) as usize;
            let mut answers = Vec::new();
            let called = loop {
                let i = answers.len();
                let held = i < switch_at && next() % 2 == 0;
                answers.push(held);
                if clean_run(&answers) >= need {
                    break i;
                }
                assert!(i < 1000, "never called");
            };
            if called < switch_at {
                early += 1;
            }
        }
        assert_eq!(early, 0, "called before Route 53 moved");
    }
}
