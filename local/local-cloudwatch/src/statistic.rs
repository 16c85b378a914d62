//! CloudWatch's statistics: `SampleCount`, `Sum`, `Average`, `Minimum`,
//! `Maximum`, and the percentiles `p0`..`p100` (alarms name them as
//! `ExtendedStatistic`, widgets as `stat`).

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    SampleCount,
    Sum,
    Average,
    Minimum,
    Maximum,
    /// `pNN`: the value below which NN % of the data lie.
    Percentile(f64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a CloudWatch statistic (SampleCount, Sum, Average, Minimum, Maximum or p0..p100)"
)]
pub struct UnknownStatistic(pub String);

impl FromStr for Statistic {
    type Err = UnknownStatistic;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "SampleCount" => Self::SampleCount,
            "Sum" => Self::Sum,
            "Average" => Self::Average,
            "Minimum" => Self::Minimum,
            "Maximum" => Self::Maximum,
            _ => text
                .strip_prefix('p')
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| (0.0..=100.0).contains(p))
                .map(Self::Percentile)
                .ok_or_else(|| UnknownStatistic(text.to_owned()))?,
        })
    }
}

impl Statistic {
    /// The statistic of `values` (one period's data); none without data.
    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        let sum: f64 = values.iter().sum();
        Some(match self {
            Self::SampleCount => values.len() as f64,
            Self::Sum => sum,
            Self::Average => sum / values.len() as f64,
            Self::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Self::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Self::Percentile(p) => {
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                // Nearest rank: the smallest value with p % of the data at
                // or below it.
                let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
                sorted[rank.clamp(1, sorted.len()) - 1]
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_each_statistic() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let of = |s: &str| s.parse::<Statistic>().expect(s).of(&values);
        assert_eq!(of("SampleCount"), Some(100.0));
        assert_eq!(of("Sum"), Some(5050.0));
        assert_eq!(of("Average"), Some(50.5));
        assert_eq!(of("Minimum"), Some(1.0));
        assert_eq!(of("Maximum"), Some(100.0));
        assert_eq!(of("p99"), Some(99.0));
        assert_eq!(of("p50"), Some(50.0));
        assert_eq!(Statistic::Sum.of(&[]), None);
        assert!("p101".parse::<Statistic>().is_err());
        assert!("Mean".parse::<Statistic>().is_err());
    }
}
