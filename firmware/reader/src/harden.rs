//! Process hardening the product promises: no core dumps and no ptrace-style dumps of the reader's
//! memory, where PINs, card data and camera frames pass. Applied first thing in `main`, before any
//! secret exists; the image adds `kernel.core_pattern` and `fs.suid_dumpable` (board/rootfs).

use rustix::process::{DumpableBehavior, Resource, Rlimit, dumpable_behavior, set_dumpable_behavior, setrlimit};

/// Turns core dumps off for this process (`RLIMIT_CORE` 0, `PR_SET_DUMPABLE` 0).
pub fn no_core_dumps() -> std::io::Result<()> {
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Whether this process is protected (for self-checks and tests).
pub fn is_hardened() -> bool {
    let core_off = rustix::process::getrlimit(Resource::Core).current == Some(0);
    core_off && dumpable_behavior().is_ok_and(|b| b == DumpableBehavior::NotDumpable)
}

#[cfg(test)]
mod tests {
    #[test]
    fn core_dumps_go_off() {
        super::no_core_dumps().unwrap();
        assert!(super::is_hardened());
    }
}
