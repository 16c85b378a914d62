//! S3's `sequencer`: orders the events of one key.

use std::cmp::Ordering;

/// A sequencer value from an S3 event. Values of different lengths are
/// compared after right-padding the shorter with zeros, as S3 documents.
#[derive(Debug, Clone, Eq)]
pub struct Sequencer(String);

impl Sequencer {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().to_ascii_uppercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn padded(&self, len: usize) -> impl Iterator<Item = u8> + '_ {
        self.0.bytes().chain(std::iter::repeat(b'0')).take(len)
    }
}

impl Ord for Sequencer {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.0.len().max(other.0.len());
        self.padded(len).cmp(other.padded(len))
    }
}

impl PartialOrd for Sequencer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Sequencer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shorter_values_are_right_padded() {
        assert!(Sequencer::new("0055AED6DCD90281E5") < Sequencer::new("0055AED6DCD90281E6"));
        assert!(Sequencer::new("0055AED6DCD90281E5") < Sequencer::new("0055AED6DCD90281E500A"));
        assert_eq!(Sequencer::new("0055AE"), Sequencer::new("0055AE00"));
        assert!(Sequencer::new("1") > Sequencer::new("0FFFFFFF"));
        assert_eq!(Sequencer::new("00abc"), Sequencer::new("00ABC"));
    }

    proptest! {
        #[test]
        fn ordering_is_total_and_consistent(a in "[0-9A-F]{1,24}", b in "[0-9A-F]{1,24}") {
            let (x, y) = (Sequencer::new(a), Sequencer::new(b));
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        }
    }
}
