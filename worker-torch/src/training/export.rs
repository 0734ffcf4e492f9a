//! The trained weights in a libtorch-free form: safetensors bytes with PyTorch's names for an
//! `nn.Sequential` of the linear layers (`layers.0.weight`, `layers.0.bias`, … the output layer
//! last), stored beside the tch `.ot` so that `ktrdr` (which does not link libtorch) and Python
//! (`safetensors`, `numpy`) can read the model.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, TensorView};
use tch::{Device, Tensor};

/// PyTorch's name of the VarStore variable `name` (`hidden{i}.{weight,bias}`, `output.…`) in a
/// model with `hidden_layers` hidden layers.
pub fn pytorch_name(name: &str, hidden_layers: usize) -> Option<String> {
    let (layer, kind) = name.split_once('.')?;
    let index = match layer {
        "output" => hidden_layers,
        _ => layer.strip_prefix("hidden")?.parse().ok()?,
    };
    Some(format!("layers.{index}.{kind}"))
}

/// The safetensors bytes of `parameters` (f32, little-endian, under PyTorch's names).
pub fn safetensors_bytes(
    parameters: &BTreeMap<String, Tensor>,
    hidden_layers: usize,
) -> Result<Vec<u8>, String> {
    let mut tensors = Vec::new();
    for (name, tensor) in parameters {
        let renamed = pytorch_name(name, hidden_layers)
            .ok_or_else(|| format!("unexpected model variable '{name}'"))?;
        let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
        let values = Vec::<f32>::try_from(tensor.flatten(0, -1).to_device(Device::Cpu))
            .map_err(|err| format!("variable '{name}' is not f32: {err}"))?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((renamed, shape, bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|err| format!("variable '{name}': {err:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, &None).map_err(|err| format!("safetensors: {err:?}"))
}
