//! The encoder's matrix products: `matrixmultiply`'s sgemm over strided views, and, for the
//! weight layers of a short input (a question), dot products that read each weight row where
//! it lies.
//!
//! Why two ways: sgemm first copies ("packs") both operands into its own layout. For a
//! passage of a hundred tokens that copy is paid back many times over. For a question of a
//! dozen tokens it is not: the encoder's 42 MB of weight matrices do not fit in the caches, so
//! every question streams them from memory, and sgemm adds a copy of each on top. [`linear`]
//! therefore multiplies inputs of at most [`SHORT_INPUT_ROWS`] rows by dot products, four
//! tokens and two weight rows at a time, asking for the weight rows ahead of use, so each is
//! read once while it is in cache.
//!
//! Both ways sum in an order fixed by the shapes alone, so the same text gives the same bits
//! in every call and every process on a machine. The dot products use AVX2 and FMA when the
//! processor has them (checked at run time, as sgemm does) and plain arithmetic otherwise; the
//! two give slightly different bits, as sgemm's own kernels do, so an index and its questions
//! should be embedded on the same kind of machine (the embeddings cache is per machine).

/// Inputs of at most this many rows (tokens) go through the dot products in [`linear`].
/// Measured on 2 shared cores (release, one text at a time, p50 of 60, three runs), sgemm →
/// dot products: 6 tokens 15–17 → 9.7 ms, 12 tokens 18–21 → 11–15 ms, 18 tokens 22–25 →
/// 17–21 ms, 24 tokens 25–29 → 22–24 ms; at 30 tokens sgemm is level or ahead.
pub(super) const SHORT_INPUT_ROWS: usize = 24;

/// Who computes a short input's products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Threads {
    /// The calling thread alone: what batches use (they spread texts over the cores instead).
    One,
    /// The calling thread and one more of the rayon pool it runs in, each taking half of the
    /// weight rows: what a single question uses, so that it takes both cores' time instead of
    /// one's. When the pool's other thread is busy, the caller does both halves itself;
    /// outside any pool, `rayon::join` runs them in rayon's global pool.
    Two,
}

/// input (rows × inputs) · weightᵀ + bias, where `weight` is outputs × inputs, row-major (as
/// PyTorch stores a linear layer) and `bias` has `outputs` values. Returns rows × outputs,
/// row-major. `threads` only says who computes which outputs, never how: the bits are the
/// same either way.
pub(super) fn linear(
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    rows: usize,
    inputs: usize,
    threads: Threads,
) -> Vec<f32> {
    let outputs = bias.len();
    assert_eq!(
        weight.len(),
        outputs * inputs,
        "weight is not outputs × inputs"
    );
    assert_eq!(input.len(), rows * inputs, "input is not rows × inputs");
    if rows <= SHORT_INPUT_ROWS {
        return match threads {
            Threads::One => dot_products(weight, bias, input, rows, inputs),
            Threads::Two => dot_products_in_halves(weight, bias, input, rows, inputs),
        };
    }
    let mut output: Vec<f32> = bias.iter().copied().cycle().take(rows * outputs).collect();
    // The weight read in place, transposed by its strides, so it needs no copy.
    let weight_transposed = View {
        data: weight,
        rows: inputs,
        columns: outputs,
        row_stride: 1,
        column_stride: inputs,
    };
    let input = View::row_major(input, rows, inputs, inputs);
    multiply(1.0, input, weight_transposed, 1.0, &mut output, outputs);
    output
}

/// [`dot_products`] with the weight rows split in two at an even row, the second half handed
/// to the rayon pool the caller runs in (`rayon::join`: if no other thread takes it, the
/// caller computes it after the first). Both halves pair the weight rows as one call would
/// (pairs start at even rows) and sum each output in the same order, so the result has the
/// same bits as [`dot_products`]'s.
///
/// Why a pool and not a thread per product: starting a thread costs ~85 µs, 36 times a
/// question (tried: 18.5 → 16.7 ms); a pool's waiting thread takes a half in microseconds.
fn dot_products_in_halves(
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    rows: usize,
    inputs: usize,
) -> Vec<f32> {
    let outputs = bias.len();
    let split = (outputs / 2) & !1;
    if split == 0 {
        return dot_products(weight, bias, input, rows, inputs);
    }
    let (weight_first, weight_second) = weight.split_at(split * inputs);
    let (bias_first, bias_second) = bias.split_at(split);
    let (first, second) = rayon::join(
        || dot_products(weight_first, bias_first, input, rows, inputs),
        || dot_products(weight_second, bias_second, input, rows, inputs),
    );
    let mut output = Vec::with_capacity(rows * outputs);
    for (first, second) in first
        .chunks_exact(split)
        .zip(second.chunks_exact(outputs - split))
    {
        output.extend_from_slice(first);
        output.extend_from_slice(second);
    }
    output
}

/// [`linear`] by dot products: every output is bias + (input row · weight row), one pair of
/// weight rows at a time.
fn dot_products(
    weight: &[f32],
    bias: &[f32],
    input: &[f32],
    rows: usize,
    inputs: usize,
) -> Vec<f32> {
    let outputs = bias.len();
    let mut output = vec![0.0f32; rows * outputs];
    #[cfg(target_arch = "x86_64")]
    {
        if inputs.is_multiple_of(8)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA (just checked); the slices' shapes come
            // from `linear`'s checks and `inputs` is a multiple of 8, which is all
            // `dot_products_avx2` relies on.
            unsafe { x86::dot_products_avx2(weight, bias, input, rows, inputs, &mut output) };
            return output;
        }
    }
    for (column, (weights, &bias)) in weight.chunks_exact(inputs).zip(bias).enumerate() {
        for (row, values) in input.chunks_exact(inputs).enumerate() {
            output[row * outputs + column] = bias + dot(values, weights);
        }
    }
    output
}

/// x · y in eight running sums added pairwise at the end: a fixed order, which the compiler
/// turns into vector instructions.
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let x_chunks = x.chunks_exact(8);
    let y_chunks = y.chunks_exact(8);
    let tail: f32 = x_chunks
        .remainder()
        .iter()
        .zip(y_chunks.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in x_chunks.zip(y_chunks) {
        for lane in 0..8 {
            sums[lane] += a[lane] * b[lane];
        }
    }
    ((sums[0] + sums[4]) + (sums[1] + sums[5])) + ((sums[2] + sums[6]) + (sums[3] + sums[7])) + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm_add_ps, _mm_add_ss, _mm_cvtss_f32, _mm_movehl_ps, _mm_prefetch,
        _mm_shuffle_ps, _MM_HINT_T0,
    };

    /// How many weight rows ahead to ask for.
    const PREFETCH_ROWS: usize = 4;

    /// Writes `output[row × outputs + column] = bias[column] + input[row] · weight[column]`,
    /// four tokens and two weight rows at a time (eight running sums: with the loads, AVX2's
    /// sixteen registers), the last few one token at a time. Every product's sum runs in the
    /// same order whichever tile computes it, so a text gives the same bits alone or in any
    /// company. The tiles are written out by hand, with no arrays, so that they stay in
    /// registers in the test builds too (opt-level 1 neither unrolls loops nor splits arrays,
    /// and a generic tile ran five times slower there).
    ///
    /// # Safety
    /// The processor must have AVX2 and FMA; `inputs` must be a multiple of 8, `weight` hold
    /// outputs × inputs, `input` rows × inputs and `output` rows × outputs floats, where
    /// outputs = `bias.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_products_avx2(
        weight: &[f32],
        bias: &[f32],
        input: &[f32],
        rows: usize,
        inputs: usize,
        output: &mut [f32],
    ) {
        assert!(weight.len() >= bias.len() * inputs && input.len() >= rows * inputs);
        assert!(output.len() >= bias.len() * rows);
        let outputs = bias.len();
        let weight_row = |column: usize| weight.as_ptr().add(column * inputs);
        let input_row = |row: usize| input.as_ptr().add(row * inputs);
        let mut column = 0;
        while column < outputs {
            // The weights come from memory (the model is larger than the caches) and each row
            // serves every token, so ask for the rows after these now: waiting for them was
            // most of a question's time before.
            let ahead = (column + PREFETCH_ROWS).min(outputs) * inputs;
            let ahead_end = (column + PREFETCH_ROWS + 2).min(outputs) * inputs;
            let mut line = ahead;
            while line < ahead_end {
                _mm_prefetch::<_MM_HINT_T0>(weight.as_ptr().add(line).cast());
                line += 16;
            }
            let mut write = |row: usize, place: usize, sum: f32| {
                output[row * outputs + column + place] = bias[column + place] + sum;
            };
            if column + 2 <= outputs {
                let (first, second) = (weight_row(column), weight_row(column + 1));
                let mut row = 0;
                while row + 4 <= rows {
                    let sums = tile_4x2(
                        first,
                        second,
                        [
                            input_row(row),
                            input_row(row + 1),
                            input_row(row + 2),
                            input_row(row + 3),
                        ],
                        inputs,
                    );
                    for (index, sum) in sums.into_iter().enumerate() {
                        write(row + index / 2, index % 2, sum);
                    }
                    row += 4;
                }
                while row < rows {
                    let (a, b) = tile_1x2(first, second, input_row(row), inputs);
                    write(row, 0, a);
                    write(row, 1, b);
                    row += 1;
                }
                column += 2;
            } else {
                for row in 0..rows {
                    write(row, 0, tile_1x1(weight_row(column), input_row(row), inputs));
                }
                column += 1;
            }
        }
    }

    /// Four input rows against two weight rows: sums in the order (token 0: rows 0, 1),
    /// (token 1: …), ….
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_4x2(
        first: *const f32,
        second: *const f32,
        tokens: [*const f32; 4],
        inputs: usize,
    ) -> [f32; 8] {
        let [t0, t1, t2, t3] = tokens;
        let (mut s00, mut s01, mut s10, mut s11) = (zero(), zero(), zero(), zero());
        let (mut s20, mut s21, mut s30, mut s31) = (zero(), zero(), zero(), zero());
        let mut at = 0;
        while at < inputs {
            let a = _mm256_loadu_ps(first.add(at));
            let b = _mm256_loadu_ps(second.add(at));
            let x = _mm256_loadu_ps(t0.add(at));
            s00 = _mm256_fmadd_ps(x, a, s00);
            s01 = _mm256_fmadd_ps(x, b, s01);
            let x = _mm256_loadu_ps(t1.add(at));
            s10 = _mm256_fmadd_ps(x, a, s10);
            s11 = _mm256_fmadd_ps(x, b, s11);
            let x = _mm256_loadu_ps(t2.add(at));
            s20 = _mm256_fmadd_ps(x, a, s20);
            s21 = _mm256_fmadd_ps(x, b, s21);
            let x = _mm256_loadu_ps(t3.add(at));
            s30 = _mm256_fmadd_ps(x, a, s30);
            s31 = _mm256_fmadd_ps(x, b, s31);
            at += 8;
        }
        [s00, s01, s10, s11, s20, s21, s30, s31].map(|sum| horizontal_sum(sum))
    }

    /// One input row against two weight rows.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_1x2(
        first: *const f32,
        second: *const f32,
        token: *const f32,
        inputs: usize,
    ) -> (f32, f32) {
        let (mut s0, mut s1) = (zero(), zero());
        let mut at = 0;
        while at < inputs {
            let x = _mm256_loadu_ps(token.add(at));
            s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(first.add(at)), s0);
            s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(second.add(at)), s1);
            at += 8;
        }
        (horizontal_sum(s0), horizontal_sum(s1))
    }

    /// One input row against one weight row.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_1x1(weights: *const f32, token: *const f32, inputs: usize) -> f32 {
        let mut sum = zero();
        let mut at = 0;
        while at < inputs {
            let x = _mm256_loadu_ps(token.add(at));
            sum = _mm256_fmadd_ps(x, _mm256_loadu_ps(weights.add(at)), sum);
            at += 8;
        }
        horizontal_sum(sum)
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }

    /// The eight lanes' sum: high half onto low, then pairs, then the last two.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn horizontal_sum(lanes: __m256) -> f32 {
        let quad = _mm_add_ps(
            _mm256_castps256_ps128(lanes),
            _mm256_extractf128_ps::<1>(lanes),
        );
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<0b01>(pair, pair)))
    }
}

/// A matrix inside a slice, with any strides (so a transpose is a change of strides).
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) columns: usize,
    pub(super) row_stride: usize,
    pub(super) column_stride: usize,
}

impl<'a> View<'a> {
    pub(super) fn row_major(
        data: &'a [f32],
        rows: usize,
        columns: usize,
        row_stride: usize,
    ) -> View<'a> {
        View {
            data,
            rows,
            columns,
            row_stride,
            column_stride: 1,
        }
    }

    /// Whether every element the view names lies inside its slice.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.columns == 0
            || (self.rows - 1) * self.row_stride + (self.columns - 1) * self.column_stride
                < self.data.len()
    }
}

/// output ← alpha · a · b + beta · output, where output is a.rows × b.columns, row-major
/// with `output_row_stride`.
pub(super) fn multiply(
    alpha: f32,
    a: View<'_>,
    b: View<'_>,
    beta: f32,
    output: &mut [f32],
    output_row_stride: usize,
) {
    assert_eq!(a.columns, b.rows, "matrix product of mismatched shapes");
    assert!(a.fits() && b.fits(), "matrix view past its slice");
    let output_fits = a.rows == 0
        || b.columns == 0
        || (a.rows - 1) * output_row_stride + b.columns <= output.len();
    assert!(output_fits, "matrix product's output past its slice");
    let stride = |value: usize| value as isize;
    // SAFETY: the asserts above keep every element sgemm reads inside `a.data` and `b.data`
    // and every element it writes inside `output`; output rows do not overlap since
    // output_row_stride ≥ b.columns in every call (row-major outputs or disjoint head
    // columns of a wider row).
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.columns,
            b.columns,
            alpha,
            a.data.as_ptr(),
            stride(a.row_stride),
            stride(a.column_stride),
            b.data.as_ptr(),
            stride(b.row_stride),
            stride(b.column_stride),
            beta,
            output.as_mut_ptr(),
            stride(output_row_stride),
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix, values in (-1, 1).
    fn matrix(rows: usize, columns: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..rows * columns)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn reference(weight: &[f32], bias: &[f32], input: &[f32], inputs: usize) -> Vec<f32> {
        input
            .chunks_exact(inputs)
            .flat_map(|row| {
                weight
                    .chunks_exact(inputs)
                    .zip(bias)
                    .map(move |(weights, bias)| {
                        bias + row
                            .iter()
                            .zip(weights)
                            .map(|(a, b)| f64::from(a * b))
                            .sum::<f64>() as f32
                    })
            })
            .collect()
    }

    /// A linear layer's weight (outputs × inputs) and bias, and an input of `rows`, from the
    /// seeds `seed`, `seed + 1` and `seed + 2`.
    fn operands(
        rows: usize,
        inputs: usize,
        outputs: usize,
        seed: u32,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        (
            matrix(outputs, inputs, seed),
            matrix(1, outputs, seed + 1),
            matrix(rows, inputs, seed + 2),
        )
    }

    #[test]
    fn both_ways_compute_the_same_product_for_every_shape_the_encoder_uses() {
        // Rows on both sides of SHORT_INPUT_ROWS, remainders of the 4-token and 2-column
        // tiles, and widths that are and are not multiples of 8.
        for (rows, inputs, outputs) in [
            (1, 384, 384),
            (3, 384, 1536),
            (13, 1536, 384),
            (SHORT_INPUT_ROWS, 384, 5),
            (2, 384, 129),
            (SHORT_INPUT_ROWS + 1, 384, 384),
            (7, 12, 3),
            (5, 20, 7),
        ] {
            let (weight, bias, input) = operands(rows, inputs, outputs, 1);
            let got = linear(&weight, &bias, &input, rows, inputs, Threads::One);
            let want = reference(&weight, &bias, &input, inputs);
            assert_eq!(got.len(), rows * outputs);
            for (index, (got, want)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "{rows}×{inputs}·{outputs}: element {index} is {got}, not {want}"
                );
            }
        }
    }

    #[test]
    fn the_same_input_gives_the_same_bits_alone_or_among_others() {
        let (inputs, outputs) = (384, 130);
        let (weight, bias, many) = operands(9, inputs, outputs, 4);
        let together = linear(&weight, &bias, &many, 9, inputs, Threads::One);
        for row in 0..9 {
            let input = &many[row * inputs..][..inputs];
            let alone = linear(&weight, &bias, input, 1, inputs, Threads::One);
            assert_eq!(alone, together[row * outputs..][..outputs], "row {row}");
        }
    }

    #[test]
    fn two_threads_give_the_same_bits_as_one() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of two threads");
        // Output counts whose halves are odd, even, and too small to split.
        for (rows, inputs, outputs) in [
            (18, 384, 1536),
            (5, 1536, 384),
            (4, 384, 130),
            (3, 384, 3),
            (2, 384, 1),
        ] {
            let (weight, bias, input) = operands(rows, inputs, outputs, 7);
            let one = linear(&weight, &bias, &input, rows, inputs, Threads::One);
            let two = pool.install(|| linear(&weight, &bias, &input, rows, inputs, Threads::Two));
            assert_eq!(one, two, "{rows}×{inputs}·{outputs} in the pool");
            // Outside a pool rayon::join runs in its global pool: the same bits again.
            let outside = linear(&weight, &bias, &input, rows, inputs, Threads::Two);
            assert_eq!(one, outside, "{rows}×{inputs}·{outputs} outside");
        }
    }
}
