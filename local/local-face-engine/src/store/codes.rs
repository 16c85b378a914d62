//! Eight-bit codes of the embeddings: the index a search scans first.
//!
//! At a million faces the float32 embeddings are 512 MB, and a search that
//! reads them all is bound by memory bandwidth (about 27 ms here). Each
//! embedding also gets a code, its values rounded to multiples of
//! [`STEP`] in one signed byte (128 bytes a face, a quarter of the memory
//! to read), with the length of its rounding error. A search scans the
//! codes and keeps only the faces that can still be among the answers,
//! then ranks those by their float32 embeddings, as an exhaustive search
//! would. It stays exact: no face is left out that the exhaustive search
//! returns, by the triangle inequality.
//!
//! For a query `q`, a face `f` and their codes `q'`, `f'` (rounding errors
//! of lengths `e_q`, `e_f`): `|d(q, f) - d(q', f')| <= e_q + e_f`. So a face
//! is kept when its code distance, less that slack, is within the match
//! threshold's distance and within the upper bound of the `k`-th nearest
//! code (when only `k` matches are asked for).

use super::EMBEDDING_LEN;

/// The value of one code unit. dlib's embedding values lie well within
/// ±0.35, and a byte holds ±127 units, ±0.496; a value beyond is clamped,
/// and its larger error is counted in the face's error length all the same.
const STEP: f32 = 1.0 / 256.0;
/// Absorbs float32 rounding in the distances compared with the bound.
const ROUNDING: f32 = 1e-3;

type Code = [i8; EMBEDDING_LEN];

/// The codes of a collection's faces, slot for slot with its embeddings.
#[derive(Default)]
pub(super) struct FaceCodes {
    codes: Vec<Code>,
    /// The longest rounding error of any face coded so far (it is never
    /// lowered when that face goes: a larger bound is still a bound).
    max_error: f32,
}

/// An embedding's code and the length of its rounding error.
fn encode(embedding: &[f32]) -> (Code, f32) {
    let mut code = [0i8; EMBEDDING_LEN];
    let mut squared_error = 0f32;
    for (unit, &value) in code.iter_mut().zip(embedding) {
        *unit = (value / STEP).round().clamp(-127.0, 127.0) as i8;
        let error = value - f32::from(*unit) * STEP;
        squared_error += error * error;
    }
    (code, squared_error.sqrt())
}

/// Squared distance between two codes, in code units (at most 254² × 128,
/// which fits in a `u32`).
fn squared_code_distance(a: &Code, b: &Code) -> u32 {
    let mut sum = 0i32;
    for (&a, &b) in a.iter().zip(b) {
        let d = i32::from(i16::from(a) - i16::from(b));
        sum += d * d;
    }
    sum as u32
}

/// Code units squared for a distance in embedding units, rounded up.
fn code_units_squared(distance: f32) -> u32 {
    let units = f64::from(distance) / f64::from(STEP);
    (units * units).ceil().min(f64::from(u32::MAX)) as u32
}

impl FaceCodes {
    pub(super) fn push(&mut self, embedding: &[f32]) {
        let (code, error) = encode(embedding);
        self.codes.push(code);
        self.max_error = self.max_error.max(error);
    }

    pub(super) fn replace(&mut self, slot: usize, embedding: &[f32]) {
        let (code, error) = encode(embedding);
        self.codes[slot] = code;
        self.max_error = self.max_error.max(error);
    }

    pub(super) fn swap_remove(&mut self, slot: usize) {
        self.codes.swap_remove(slot);
    }

    /// The slots that can be among the `keep` nearest faces within
    /// `max_distance` of `query`: a superset of them, usually a small one.
    pub(super) fn candidates(
        &self,
        query: &[f32; EMBEDDING_LEN],
        max_distance: f32,
        keep: usize,
    ) -> Vec<usize> {
        if keep == 0 {
            return Vec::new();
        }
        let (query_code, query_error) = encode(query);
        let slack = query_error + self.max_error + ROUNDING;
        let limit = code_units_squared(max_distance + slack);
        let mut found = scan(&self.codes, &query_code, limit);
        if found.len() > keep {
            // The `keep`-th nearest code bounds the `keep`-th nearest face
            // from above; a face whose lower bound is beyond that is not
            // among the `keep` nearest.
            let (_, &mut (kth, _), _) = found.select_nth_unstable(keep - 1);
            let upper = (kth as f32).sqrt() * STEP + slack;
            let limit = code_units_squared(upper + slack);
            found.retain(|&(squared, _)| squared <= limit);
        }
        found.into_iter().map(|(_, slot)| slot).collect()
    }
}

/// Every code within `limit` of `query`, with its squared distance.
fn scan(codes: &[Code], query: &Code, limit: u32) -> Vec<(u32, usize)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::scan(codes, query, limit) };
    }
    scan_portable(codes, query, limit)
}

fn scan_portable(codes: &[Code], query: &Code, limit: u32) -> Vec<(u32, usize)> {
    codes
        .iter()
        .enumerate()
        .filter_map(|(slot, code)| {
            let squared = squared_code_distance(query, code);
            (squared <= limit).then_some((squared, slot))
        })
        .collect()
}

/// The scan in AVX2, by hand: the compiler's vectorisation of
/// [`squared_code_distance`] (widening, then one horizontal sum a face)
/// measured 26–37 ms a million faces here, this 6.5 ms, about the time
/// it takes to read the 128 MB.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
        _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256,
        _mm256_madd_epi16, _mm256_setzero_si256, _mm256_sub_epi16,
    };

    use super::{Code, EMBEDDING_LEN};

    /// Values a 256-bit register holds as 16-bit integers.
    const LANES: usize = 16;
    const CHUNKS: usize = EMBEDDING_LEN / LANES;

    /// A code's values widened to 16 bits, sixteen at a time.
    #[target_feature(enable = "avx2")]
    fn widen(code: &Code) -> [__m256i; CHUNKS] {
        std::array::from_fn(|chunk| {
            // SAFETY: the 16 bytes read start at `chunk * 16` of the
            // 128-byte code; unaligned loads are allowed.
            let bytes = unsafe { _mm_loadu_si128(code.as_ptr().add(chunk * LANES).cast()) };
            _mm256_cvtepi8_epi16(bytes)
        })
    }

    /// [`super::scan_portable`], the same answer.
    #[target_feature(enable = "avx2")]
    pub(super) fn scan(codes: &[Code], query: &Code, limit: u32) -> Vec<(u32, usize)> {
        let query = widen(query);
        let mut found = Vec::new();
        for (slot, code) in codes.iter().enumerate() {
            let code = widen(code);
            let mut sums = _mm256_setzero_si256();
            for (value, query) in code.iter().zip(&query) {
                // Differences fit in 16 bits (at most 254); each pair of
                // squares is summed in 32 (at most 2 × 254²).
                let difference = _mm256_sub_epi16(*value, *query);
                sums = _mm256_add_epi32(sums, _mm256_madd_epi16(difference, difference));
            }
            let half = _mm_add_epi32(
                _mm256_castsi256_si128(sums),
                _mm256_extracti128_si256::<1>(sums),
            );
            let quarter = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
            let total = _mm_add_epi32(quarter, _mm_shuffle_epi32::<0b10_11_00_01>(quarter));
            let squared = _mm_cvtsi128_si32(total) as u32;
            if squared <= limit {
                found.push((squared, slot));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn the_rounding_error_is_measured_and_clamped_values_count_in_it() {
        let mut embedding = [0.1f32; EMBEDDING_LEN];
        let (code, error) = encode(&embedding);
        assert_eq!(code[0], 26);
        assert!(error <= (EMBEDDING_LEN as f32).sqrt() * STEP / 2.0);
        embedding[0] = 0.9;
        let (code, clamped_error) = encode(&embedding);
        assert_eq!(code[0], 127);
        assert!(clamped_error >= 0.9 - 127.0 * STEP);
    }

    #[test]
    fn code_distance_is_the_distance_of_the_rounded_values() {
        let a: Vec<f32> = (0..EMBEDDING_LEN)
            .map(|i| (i as f32 - 64.0) / 400.0)
            .collect();
        let b: Vec<f32> = (0..EMBEDDING_LEN)
            .map(|i| (i as f32 % 7.0) / 50.0)
            .collect();
        let (code_a, _) = encode(&a);
        let (code_b, _) = encode(&b);
        let rounded = |code: &Code| code.map(|unit| f32::from(unit) * STEP);
        let exact = super::super::squared_distance(&rounded(&code_a), &rounded(&code_b));
        let from_codes = squared_code_distance(&code_a, &code_b) as f32 * STEP * STEP;
        assert!((exact - from_codes).abs() < 1e-5, "{exact} vs {from_codes}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_scan_finds_what_the_portable_scan_finds() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut codes: Vec<Code> = (0..2_000)
            .map(|_| std::array::from_fn(|_| rng.gen_range(-127..=127)))
            .collect();
        // The extremes: every difference 254.
        codes.push([127; EMBEDDING_LEN]);
        let query: Code = [-127; EMBEDDING_LEN];
        for limit in [0, 1_300_000, 1_400_000, u32::MAX] {
            // SAFETY: the CPU has AVX2, checked above.
            let fast = unsafe { avx2::scan(&codes, &query, limit) };
            assert_eq!(fast, scan_portable(&codes, &query, limit), "limit {limit}");
        }
        let all = scan_portable(&codes, &query, u32::MAX);
        assert_eq!(all.last(), Some(&(254 * 254 * 128, codes.len() - 1)));
    }
}
