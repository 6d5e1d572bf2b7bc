//! Which Lambda architecture a built function is for, read from the ELF header of its binary
//! (`e_machine`): `x86_64` or `arm64`, the two Lambda runs. A function version created for one
//! cannot start a binary built for the other (`Runtime.InvalidEntrypoint` / exec format error at
//! every cold start), and `cargo lambda build` builds for the host unless told `--arm64`.

use crate::lambda_zip;

/// A Lambda instruction set architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `x86_64` (ELF machine `EM_X86_64`, 62).
    X86_64,
    /// `arm64`, Graviton (ELF machine `EM_AARCH64`, 183).
    Arm64,
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

impl Architecture {
    /// The name Lambda's API uses (`Architectures` of a function configuration).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// The `cargo lambda build` flag that builds for it.
    pub fn cargo_lambda_flag(self) -> &'static str {
        match self {
            Self::X86_64 => "--x86-64",
            Self::Arm64 => "--arm64",
        }
    }

    /// From Lambda's name; a function configuration without `Architectures` is `x86_64`.
    pub fn from_lambda_name(name: &str) -> Option<Self> {
        match name {
            "x86_64" => Some(Self::X86_64),
            "arm64" => Some(Self::Arm64),
            _ => None,
        }
    }
}

/// The architecture of an ELF binary.
pub fn of_elf(bytes: &[u8]) -> Result<Architecture, String> {
    if bytes.len() < 20 || !bytes.starts_with(b"\x7fELF") {
        return Err("not an ELF binary (Lambda runs Linux ELF executables)".to_owned());
    }
    // e_ident[EI_DATA]: 1 little-endian, 2 big-endian; e_machine follows e_type at offset 18.
    let machine = match bytes[5] {
        1 => u16::from_le_bytes([bytes[18], bytes[19]]),
        2 => u16::from_be_bytes([bytes[18], bytes[19]]),
        other => return Err(format!("an ELF binary of unknown byte order {other}")),
    };
    match machine {
        EM_X86_64 => Ok(Architecture::X86_64),
        EM_AARCH64 => Ok(Architecture::Arm64),
        other => Err(format!(
            "an ELF binary for machine {other}, which Lambda does not run (x86_64 or arm64 only)"
        )),
    }
}

/// The architecture of a built function: a `bootstrap` binary, or the `bootstrap` in a
/// deployment zip.
pub fn of_artifact(bytes: &[u8]) -> Result<Architecture, String> {
    if lambda_zip::is_zip(bytes) {
        let bootstrap = lambda_zip::bootstrap(bytes).map_err(|error| error.to_string())?;
        of_elf(&bootstrap)
    } else {
        of_elf(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first 20 bytes of an ELF header for `machine`, little-endian, padded.
    fn header(machine: u16) -> Vec<u8> {
        let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0".to_vec();
        bytes.extend(machine.to_le_bytes());
        bytes.resize(64, 0);
        bytes
    }

    #[test]
    fn reads_the_machine_of_real_binaries_and_headers() {
        // The test binary itself: built for the host.
        let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let host = if cfg!(target_arch = "aarch64") {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        assert_eq!(of_artifact(&this), Ok(host));
        assert_eq!(of_elf(&header(183)), Ok(Architecture::Arm64));
        assert_eq!(of_elf(&header(62)), Ok(Architecture::X86_64));
        // Big-endian byte order.
        let mut big = header(0);
        big[5] = 2;
        big[18..20].copy_from_slice(&183u16.to_be_bytes());
        assert_eq!(of_elf(&big), Ok(Architecture::Arm64));
        assert!(of_elf(&header(40)).unwrap_err().contains("machine 40"));
        assert!(of_elf(b"#!/bin/sh\n").unwrap_err().contains("not an ELF"));
        assert!(of_elf(b"").is_err());
    }

    #[test]
    fn lambda_names_round_trip() {
        for architecture in [Architecture::X86_64, Architecture::Arm64] {
            assert_eq!(
                Architecture::from_lambda_name(architecture.lambda_name()),
                Some(architecture)
            );
        }
        assert_eq!(Architecture::from_lambda_name("mips"), None);
        assert_eq!(Architecture::Arm64.cargo_lambda_flag(), "--arm64");
    }
}
