//! `reclaimscope graph`.

use crate::diag::InputError;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8, InputError> {
    Err(InputError("`graph` is not built yet".into()))
}
