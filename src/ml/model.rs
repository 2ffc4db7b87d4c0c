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
        let mut model = Model {
            binding,
            sidecar,
            session,
            input,
            output,
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
        Ok(model)
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
