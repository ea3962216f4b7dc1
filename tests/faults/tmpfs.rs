//! A small tmpfs for `STORAGE_DIR`, to fill the disk on purpose. Mounting needs root
//! (`.ci/run` is root).

use std::{path::Path, process::Command};

/// A mounted tmpfs, unmounted when dropped (after the processes that use it are gone).
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` reads it) on a fresh folder.
    pub fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bi-faults-tmpfs")
            .tempdir()
            .unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (as in .ci/run): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy: detach it now; the kernel frees it when the last user goes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
