//! `blobtier init`: writes a commented `blobtier.toml` for a common setup.

use crate::cli::{InitArgs, SetupArg};
use crate::init::Setup;
use crate::{Error, Outcome};

/// Writes the template of `--setup` to `--out` (never overwritten).
pub fn init(a: InitArgs) -> Result<Outcome, Error> {
    let setup = match a.setup {
        SetupArg::S3Access => Setup::S3Access,
        SetupArg::RegistryJson => Setup::RegistryJson,
        SetupArg::Notifications => Setup::Notifications,
    };
    crate::init::init(setup, &a.out)?;
    tracing::info!(path = %a.out.display(), "wrote config");
    Ok(Outcome::Success)
}
