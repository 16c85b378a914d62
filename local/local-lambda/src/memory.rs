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
    fn parse(status: &str) -> Option<Self> {
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
}

/// One process's `/proc` folder, held open: it stays that process's once
/// the process has ended and its id is given to another, whose memory a
/// read by id would then find (another test's Python, say, over the limit).
#[derive(Debug)]
pub struct ProcessMemory {
    dir: std::fs::File,
}

impl ProcessMemory {
    /// The process `pid`'s, while it runs.
    pub fn of(pid: u32) -> Option<Self> {
        std::fs::File::open(format!("/proc/{pid}"))
            .ok()
            .map(|dir| Self { dir })
    }

    /// Its memory now, or `None` once it has ended.
    pub fn read(&self) -> Option<Memory> {
        use std::os::fd::AsRawFd;
        // The descriptor's link is to the folder itself, not to its name.
        let status =
            std::fs::read_to_string(format!("/proc/self/fd/{}/status", self.dir.as_raw_fd()))
                .ok()?;
        Memory::parse(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_has_memory_until_it_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("sleep");
        let process = ProcessMemory::of(child.id()).expect("running");
        let memory = process.read().expect("its memory");
        assert!(memory.resident_kib > 0);
        assert!(memory.peak_kib >= memory.resident_kib);
        child.kill().expect("killed");
        child.wait().expect("reaped");
        // Its id may now be another process's: the folder is still its own.
        assert_eq!(process.read(), None);
    }
}
