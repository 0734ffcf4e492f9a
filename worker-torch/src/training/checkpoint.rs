//! A training checkpoint: everything needed to continue a run exactly where it stopped, at an epoch
//! boundary — the JSON state (next epoch, history, early-stopping counters, Adam's step) and one
//! tensor archive with the current weights, the best weights and Adam's moments. Data order and
//! dropout need nothing saved: they are derived from the seed and the epoch number.

use std::{collections::BTreeMap, io::Cursor};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor, no_grad};

use ktrdr_trading::kinds::EpochRecord;

use super::adam::Adam;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The first epoch still to run.
    pub next_epoch: usize,
    pub history: Vec<EpochRecord>,
    /// None until an epoch finished (JSON has no infinity).
    pub best_loss: Option<f64>,
    pub best_epoch: usize,
    pub since_best: usize,
    /// Adam's step count; [`TrainingCheckpoint::capture`] takes it from the optimizer it saves.
    pub adam_step: i64,
}

pub struct TrainingCheckpoint {
    pub state: TrainState,
    /// `weights.*`, `best.*`, `adam_m.*` and `adam_v.*` tensors, in tch's archive format.
    pub tensors: Vec<u8>,
}

impl TrainingCheckpoint {
    pub fn capture(
        state: TrainState,
        parameters: &BTreeMap<String, Tensor>,
        best: &BTreeMap<String, Tensor>,
        adam: &Adam,
    ) -> Self {
        let state = TrainState {
            adam_step: adam.step,
            ..state
        };
        // Serialized at once from host memory: no copy on the CPU, and on a GPU no extra device
        // memory (a failure checkpoint may be taken because the device ran out of it).
        let host = |tensor: &Tensor| tensor.to_device(Device::Cpu);
        let mut named: Vec<(String, Tensor)> = Vec::new();
        no_grad(|| {
            for (name, tensor) in parameters {
                named.push((format!("weights.{name}"), host(tensor)));
            }
            for (name, tensor) in best {
                named.push((format!("best.{name}"), host(tensor)));
            }
            for (name, (m, v)) in &adam.moments {
                named.push((format!("adam_m.{name}"), host(m)));
                named.push((format!("adam_v.{name}"), host(v)));
            }
        });
        let mut tensors = Vec::new();
        Tensor::save_multi_to_stream(&named, &mut tensors).expect("writing to memory cannot fail");
        Self { state, tensors }
    }

    /// Puts the saved tensors back into `parameters`, `best` and `adam`; fails (never panics) on a
    /// checkpoint that does not fit this model.
    pub fn restore(
        &self,
        parameters: &BTreeMap<String, Tensor>,
        best: &mut BTreeMap<String, Tensor>,
        adam: &mut Adam,
    ) -> Result<(), String> {
        let loaded = Tensor::load_multi_from_stream(Cursor::new(&self.tensors))
            .map_err(|err| format!("unreadable checkpoint tensors: {err}"))?;
        let loaded: BTreeMap<String, Tensor> = loaded.into_iter().collect();
        let take = |key: String, like: &Tensor| -> Result<Tensor, String> {
            let tensor = loaded
                .get(&key)
                .ok_or_else(|| format!("checkpoint lacks {key}"))?;
            if tensor.size() != like.size() {
                return Err(format!(
                    "checkpoint {key} has shape {:?}, the model {:?}",
                    tensor.size(),
                    like.size()
                ));
            }
            Ok(tensor.to_device(like.device()))
        };
        no_grad(|| {
            for (name, parameter) in parameters {
                let mut target = parameter.shallow_clone();
                target.copy_(&take(format!("weights.{name}"), parameter)?);
                best.insert(name.clone(), take(format!("best.{name}"), parameter)?);
                let (m, v) = adam
                    .moments
                    .get_mut(name)
                    .expect("moments for every parameter");
                m.copy_(&take(format!("adam_m.{name}"), parameter)?);
                v.copy_(&take(format!("adam_v.{name}"), parameter)?);
            }
            Ok::<_, String>(())
        })?;
        adam.step = self.state.adam_step;
        Ok(())
    }
}
