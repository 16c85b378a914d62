//! A process's memory as Lambda counts it: resident pages, in MiB (what
//! `MemorySize` and the REPORT's `Max Memory Used` are in). Lambda counts
//! the execution environment's cgroup; here the process's resident set, read
//! from `/proc`, which works without cgroups (which a machine may not let
//! a process create). `RLIMIT_AS` would count address space tokio and
//! glibc reserve but never touch, and fail allocations rather than end the
//! process as Lambda does.

/// One reading of a process's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident now, in KiB.
    pub resident_kib: u64,
    /// The most ever resident (the high-water mark), in KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// The process's memory, or `None` once it is gone.
    pub fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Self {
            resident_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// The peak in whole MiB, rounded up as Lambda's report rounds it.
    pub fn peak_mib(&self) -> u64 {
        self.peak_kib.div_ceil(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_a_dead_one_none() {
        let memory = Memory::of(std::process::id()).expect("this process");
        assert!(memory.resident_kib > 0);
        assert!(memory.peak_kib >= memory.resident_kib);
        assert!(Memory::of(u32::MAX).is_none());
    }
}
