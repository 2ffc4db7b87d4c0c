//! A loaded ONNX model: one ONNX Runtime session, single-threaded, used two ways.
//! - **Live** (`score`): one feature row per call, through an `IoBinding` made at load that
//!   binds an input and an output tensor preallocated once. The call goes straight to the C
//!   API's `RunWithBinding`, so the Rust side allocates nothing per tick. The safe wrapper
//!   builds name arrays and an output map on every call, which costs more than the model.
//!   Binding once also saves ONNX Runtime resolving names on every run (~100 ns of ~1.3 µs).
//! - **Batched** (`score_batch`): a block of rows in one call, for backtests. It allocates per
//!   call, which the rows amortise.
//!
//! The shipped models are plain `Gemm` + `Sigmoid` graphs. Their per-row result does not
//! depend on the batch size (tested), so both ways give the same scores to the bit.
//!
//! Session options: one intra-op and one inter-op thread, so no thread pool and nothing
//! spins. Weight prepacking stays on (ONNX Runtime's default, and what the goldens were made
//! with). Off, a 4,096-row batch of these one-output `Gemm`s runs in about half the time,
//! but about one score in ten changes in its last bit, and so could change a fill.

// Unsafe here is the raw `Run` call; each use carries its SAFETY argument.
#![allow(unsafe_code)]

use std::path::Path;
use std::ptr;

use ort::AsPointer;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{Tensor, TensorRef, ValueType};

use super::runtime;
use super::sidecar::Sidecar;

/// A model with its sidecar, ready to score.
#[derive(Debug)]
pub struct Model {
    pub sidecar: Sidecar,
    session: Session,
    /// Binds `input` and `output` to the session; both are read and written in place.
    binding: IoBinding,
    input: Tensor<f32>,
    output: Tensor<f32>,
    /// Why the model cannot score more than one row per call (`None`: it can).
    single_row: Option<String>,
}

impl Model {
    /// Loads `<model>.onnx` and its sidecar, checks that they agree, and runs one zero row
    /// through both paths, so a model that loads but cannot run is refused here, not mid-run.
    ///
    /// # Errors
    /// Every problem found, each naming the file.
    pub fn load(path: &Path) -> Result<Model, Vec<String>> {
        let sidecar_path = Sidecar::path_for(path);
        if !path.is_file() {
            return Err(vec![format!("{}: model file not found", path.display())]);
        }
        let sidecar = Sidecar::load(&sidecar_path)?;
        let (environment, _) = runtime::environment().map_err(|e| vec![e])?;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            vec![format!("{}: {what}: {e}", path.display())]
        };
        let configure = |e: ort::Error<ort::session::builder::SessionBuilder>| {
            fail("cannot configure an ONNX Runtime session", &e)
        };
        let session = Session::builder(environment)
            .map_err(|e| fail("cannot create an ONNX Runtime session", &e))?
            .with_intra_threads(1)
            .map_err(configure)?
            .with_inter_threads(1)
            .map_err(configure)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(configure)?
            .commit_from_file(path)
            .map_err(|e| fail("ONNX Runtime cannot load the model", &e))?;
        check_signature(path, &session, &sidecar)?;
        let width = sidecar.schema.len();
        let input = Tensor::<f32>::new(session.allocator(), [1usize, width])
            .map_err(|e| fail("cannot allocate the input tensor", &e))?;
        let mut output = Tensor::<f32>::new(session.allocator(), [1usize, sidecar.output_width])
            .map_err(|e| fail("cannot allocate the output tensor", &e))?;
        let mut binding = session
            .create_binding()
            .map_err(|e| fail("cannot create an IoBinding", &e))?;
        binding
            .bind_input(sidecar.input_name.as_str(), &input)
            .map_err(|e| fail("cannot bind the input tensor", &e))?;
        binding
            .bind_output(sidecar.output_name.as_str(), &mut output)
            .map_err(|e| fail("cannot bind the output tensor", &e))?;
        let single_row = fixed_batch(&session, &sidecar);
        let mut model = Model {
            binding,
            sidecar,
            session,
            input,
            output,
            single_row,
        };
        let zeros = vec![0f32; width];
        let live = model
            .score(&zeros)
            .map_err(|e| fail("test inference failed", &e))?;
        let mut batch = Vec::new();
        model
            .score_batch(&zeros, 1, &mut batch)
            .map_err(|e| fail("test batch inference failed", &e))?;
        if !live.is_finite() || batch.first().map(|b| b.to_bits()) != Some(live.to_bits()) {
            return Err(fail(
                "test inference",
                &format!(
                    "live score {live} and batch score {batch:?} of a zero row differ or are not finite"
                ),
            ));
        }
        if model.single_row.is_none() {
            // A graph can declare any batch size and still fail on more than one row (a
            // reshape to 1 inside it): try two, so a batched run does not fail on every call.
            let two = vec![0f32; 2 * width];
            batch.clear();
            if let Err(e) = model.score_batch(&two, 2, &mut batch) {
                model.single_row = Some(format!("a two-row test batch failed: {e}"));
            }
        }
        Ok(model)
    }

    /// Why the model takes only one row per call (`None` when it takes batches): such a
    /// model is scored per tick even where batched inference is configured.
    pub fn single_row(&self) -> Option<&str> {
        self.single_row.as_deref()
    }

    /// Feature columns the model reads.
    pub fn width(&self) -> usize {
        self.sidecar.schema.len()
    }

    /// Scores one row on the preallocated tensors. No Rust allocation.
    ///
    /// # Errors
    /// ONNX Runtime's message, if the run fails.
    #[inline]
    pub fn score(&mut self, features: &[f32]) -> Result<f32, String> {
        let (_, input) = self.input.extract_tensor_mut();
        input.copy_from_slice(&features[..input.len()]);
        // SAFETY: the session, the binding and both bound tensors live in `self` for the whole
        // call. The binding aliases the tensors' buffers (CPU to CPU, no copy), so the row just
        // written is what the model reads, and the output, a preallocated f32 tensor of the
        // shape `check_signature` verified, is written in place. `&mut self` keeps the session
        // from being run twice at once (ONNX Runtime's `Run` is not thread-safe).
        let status = unsafe {
            (ort::api().RunWithBinding)(self.session.ptr_mut(), ptr::null(), self.binding.ptr())
        };
        if !status.0.is_null() {
            return Err(status_message(status.0));
        }
        let (_, output) = self.output.extract_tensor();
        Ok(output[self.sidecar.score_index])
    }

    /// Scores `rows` rows of `features` (row-major) in one call, appending one score per row.
    ///
    /// # Errors
    /// ONNX Runtime's message, if the run fails.
    pub fn score_batch(
        &mut self,
        features: &[f32],
        rows: usize,
        scores: &mut Vec<f32>,
    ) -> Result<(), String> {
        if rows == 0 {
            return Ok(());
        }
        let width = self.width();
        let input = TensorRef::from_array_view(([rows, width], &features[..rows * width]))
            .map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs![self.sidecar.input_name.as_str() => input])
            .map_err(|e| e.to_string())?;
        let (_, data) = outputs[self.sidecar.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| e.to_string())?;
        let stride = self.sidecar.output_width;
        scores.extend((0..rows).map(|r| data[r * stride + self.sidecar.score_index]));
        Ok(())
    }
}

/// `Some(why)` when the model's input declares a fixed batch size (any but a symbolic one):
/// exporters often write `[1, F]`, which takes one row per call and fails every batch.
fn fixed_batch(session: &Session, sidecar: &Sidecar) -> Option<String> {
    let input = session
        .inputs()
        .iter()
        .find(|i| i.name() == sidecar.input_name)?;
    match input.dtype() {
        ValueType::Tensor { shape, .. } if shape.first().is_some_and(|&d| d >= 0) => Some(format!(
            "its input '{}' has a fixed batch dimension ({}), not a symbolic one",
            sidecar.input_name,
            input.dtype()
        )),
        _ => None,
    }
}

/// Reads and releases an error status.
fn status_message(status: *mut ort::sys::OrtStatus) -> String {
    // SAFETY: `status` is a non-null status just returned by the C API; its message is a
    // NUL-terminated string owned by the status, copied out before the status is released.
    unsafe {
        let message = std::ffi::CStr::from_ptr((ort::api().GetErrorMessage)(status))
            .to_string_lossy()
            .into_owned();
        (ort::api().ReleaseStatus)(status);
        message
    }
}

/// The model's declared input and output must be what the sidecar says.
fn check_signature(path: &Path, session: &Session, sidecar: &Sidecar) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let file = path.display();
    let f32_with_width = |dtype: &ValueType, width: usize| match dtype {
        ValueType::Tensor { ty, shape, .. } => {
            *ty == ort::value::TensorElementType::Float32
                && shape.len() == 2
                && (shape[1] == width as i64 || shape[1] == -1)
        }
        _ => false,
    };
    if session.inputs().len() != 1 {
        errors.push(format!(
            "{file}: the model has {} inputs; the engine feeds exactly one",
            session.inputs().len()
        ));
    }
    match session
        .inputs()
        .iter()
        .find(|i| i.name() == sidecar.input_name)
    {
        Some(input) if f32_with_width(input.dtype(), sidecar.schema.len()) => {}
        Some(input) => errors.push(format!(
            "{file}: input '{}' is {}, but the sidecar declares float32 [-1, {}]",
            sidecar.input_name,
            input.dtype(),
            sidecar.schema.len()
        )),
        None => errors.push(format!(
            "{file}: no input named '{}' (the sidecar's input.name); the model has: {}",
            sidecar.input_name,
            names(session.inputs().iter().map(|i| i.name()))
        )),
    }
    match session
        .outputs()
        .iter()
        .find(|o| o.name() == sidecar.output_name)
    {
        Some(output) if f32_with_width(output.dtype(), sidecar.output_width) => {}
        Some(output) => errors.push(format!(
            "{file}: output '{}' is {}, but the sidecar declares float32 [-1, {}]",
            sidecar.output_name,
            output.dtype(),
            sidecar.output_width
        )),
        None => errors.push(format!(
            "{file}: no output named '{}' (the sidecar's output.name); the model has: {}",
            sidecar.output_name,
            names(session.outputs().iter().map(|o| o.name()))
        )),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_model(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/models/{name}.onnx"))
    }

    #[test]
    fn a_fixed_batch_dimension_is_seen_at_load() {
        let cases = [
            ("batch_one", Some("fixed batch dimension")),
            ("nan_score", None),
        ];
        for (name, expected) in cases {
            let model = Model::load(&test_model(name))
                .unwrap_or_else(|e| panic!("{name}: loads (ONNX Runtime fetched?): {e:?}"));
            match expected {
                Some(needle) => assert!(
                    model.single_row().is_some_and(|why| why.contains(needle)),
                    "{name}: {:?}",
                    model.single_row()
                ),
                None => assert_eq!(model.single_row(), None, "{name}"),
            }
        }
    }

    #[test]
    fn a_nan_score_comes_back_as_a_value_for_the_strategy_to_count() {
        let mut model = Model::load(&test_model("nan_score")).expect("loads");
        let score = model.score(&[2.5]).expect("runs");
        assert!(score.is_nan(), "sqrt(-|x|) of a non-zero row: {score}");
    }
}
