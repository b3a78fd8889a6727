//! The cgroup v2 device controller: a BPF program that decides, device by
//! device, what the container may open and make.
//!
//! A device node is a door into a driver: whoever can open `/dev/sda` can
//! read the host's disk, whatever the mount namespace shows. cgroup v1 has
//! a `devices` controller with `devices.allow` and `devices.deny` files;
//! cgroup v2 has none. Instead, the kernel runs an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup at the
//! BPF_CGROUP_DEVICE hook, each time a process in that cgroup (or below it)
//! opens or `mknod`s a device node. The program reads three numbers,
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! where the low 16 bits of `access_type` are the device type (block 1,
//! char 2) and the high 16 bits the accesses asked for (mknod 1, read 2,
//! write 4; `open(O_RDWR)` asks for read and write at once). It returns 1
//! to allow, 0 to refuse with EPERM. A cgroup may hold several programs
//! (BPF_F_ALLOW_MULTI); all of them, and those of its ancestors, must allow.
//!
//! The spec's `linux.resources.devices` is an ordered list of rules (allow
//! or deny; type `a`, `c` or `b`; a major and minor, each unset for "any";
//! an access, some of `rwm`), read as v1 reads writes to its files: a later
//! rule overrides an earlier one, and a device no rule names is allowed (a
//! fresh v1 device cgroup allows everything, which is why the lists begin
//! with a deny-all rule). Puncker decides each access asked for on its own:
//! the last rule that names that access and matches the device decides it,
//! and the request is allowed only if every access in it is. So "allow
//! c 1:3 r" then "allow c 1:3 w" lets `/dev/null` be opened read-write.
//!
//! [`install`] compiles the rules into such a program (plain Rust: the
//! instructions are built here, see [`compile`]), loads it, attaches it to
//! the container's cgroup, then detaches every other device program that
//! cgroup had, so that an update replaces the filter rather than stacking
//! one more (the kernel allows 64). The new program goes in before the old
//! one goes out, so there is no moment without a filter.

use crate::error::{Error, Result};
use crate::explain;
use crate::sys;
use nix::errno::Errno;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// The program type and the cgroup hook, from `<linux/bpf.h>`.
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Attach alongside the programs already there instead of replacing the
/// one allowed program (and let sub-cgroups add their own).
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// The device types and accesses of `bpf_cgroup_dev_ctx.access_type`.
const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;
const BPF_DEVCG_ACC_MKNOD: i32 = 1;
const BPF_DEVCG_ACC_READ: i32 = 2;
const BPF_DEVCG_ACC_WRITE: i32 = 4;

/// The license the program declares. The kernel wants a GPL-compatible
/// one only from programs that call GPL-only helpers; this one calls none.
const LICENSE: &std::ffi::CStr = c"Apache-2.0";
/// The name tools such as `bpftool prog` show (at most 15 bytes).
const NAME: &str = "puncker_devices";

/// One rule of `linux.resources.devices`, in the spec's order.
#[derive(Clone, Debug)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// None (or -1, as runc and Docker write "*") is any major.
    pub major: Option<i64>,
    /// None (or -1) is any minor.
    pub minor: Option<i64>,
    /// Some of "rwm" (read, write, mknod); empty is all three, as an unset
    /// type or number is "all".
    pub access: String,
}

/// The device type a rule is about: the spec's `a`, `c` (or `u`) and `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    All,
    Char,
    Block,
}

/// Build the program for `rules`, load it, attach it to the cgroup v2
/// directory `dir`, and detach every other device program attached there.
pub fn install(dir: &Path, rules: &[Rule]) -> Result<()> {
    let program = compile(rules)?;
    let prog = load(&program)?;
    let cgroup = explain::kernel(
        "open",
        format_args!("{}", dir.display()),
        "a BPF program is attached to a cgroup through a descriptor of its directory",
        || {
            use nix::fcntl::{open, OFlag};
            open(
                dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
        },
    )?;
    explain::kernel(
        "bpf",
        format_args!(
            "BPF_PROG_ATTACH BPF_CGROUP_DEVICE {} (BPF_F_ALLOW_MULTI)",
            dir.display()
        ),
        "from now on the kernel runs the program on every device open and mknod in this cgroup",
        || {
            sys::bpf_prog_attach(
                cgroup.as_fd(),
                prog.as_fd(),
                BPF_CGROUP_DEVICE,
                BPF_F_ALLOW_MULTI,
            )
        },
    )?;
    let own = explain::kernel(
        "bpf",
        format_args!("BPF_OBJ_GET_INFO_BY_FD {NAME}"),
        "the new program's id, to tell it from the programs it replaces",
        || sys::bpf_prog_id(prog.as_fd()),
    )?;
    for id in attached(&cgroup, dir)? {
        if id != own {
            detach(&cgroup, dir, id)?;
        }
    }
    Ok(())
}

/// The ids of the device programs attached to the cgroup itself.
fn attached(cgroup: &OwnedFd, dir: &Path) -> Result<Vec<u32>> {
    explain::kernel(
        "bpf",
        format_args!("BPF_PROG_QUERY BPF_CGROUP_DEVICE {}", dir.display()),
        "an update must not leave the previous filter in place",
        || {
            let mut ids = vec![0; sys::bpf_prog_query(cgroup.as_fd(), BPF_CGROUP_DEVICE, &mut [])?];
            // ENOSPC: one more was attached between the count and the list.
            loop {
                match sys::bpf_prog_query(cgroup.as_fd(), BPF_CGROUP_DEVICE, &mut ids) {
                    Ok(n) => return Ok(ids[..n.min(ids.len())].to_vec()),
                    Err(Errno::ENOSPC) => ids.resize(ids.len() + 8, 0),
                    Err(e) => return Err(e),
                }
            }
        },
    )
}

/// Take one program (by id) off the cgroup. Detaching needs a descriptor
/// of the program; one that vanished meanwhile needs nothing.
fn detach(cgroup: &OwnedFd, dir: &Path, id: u32) -> Result<()> {
    let old = explain::kernel(
        "bpf",
        format_args!("BPF_PROG_GET_FD_BY_ID {id}"),
        "a program is detached through a descriptor of it",
        || match sys::bpf_prog_get_fd_by_id(id) {
            Err(Errno::ENOENT) => Ok(None),
            r => r.map(Some),
        },
    )?;
    let Some(old) = old else {
        return Ok(());
    };
    explain::kernel(
        "bpf",
        format_args!(
            "BPF_PROG_DETACH BPF_CGROUP_DEVICE {} (program {id})",
            dir.display()
        ),
        "the previous device filter; the new one already guards the cgroup",
        || match sys::bpf_prog_detach(cgroup.as_fd(), old.as_fd(), BPF_CGROUP_DEVICE) {
            Err(Errno::ENOENT) => Ok(()),
            r => r,
        },
    )
}

/// Hand the program to the kernel's verifier. If it refuses, load it again
/// with the verifier's log on, so the error says why.
fn load(program: &[Insn]) -> Result<OwnedFd> {
    let bytes: Vec<[u8; 8]> = program.iter().map(Insn::encode).collect();
    let n = bytes.len();
    let first = explain::kernel(
        "bpf",
        format_args!("BPF_PROG_LOAD BPF_PROG_TYPE_CGROUP_DEVICE {NAME} ({n} instructions)"),
        "cgroup v2 has no devices.allow: a BPF program decides each device open and mknod",
        || sys::bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, &bytes, LICENSE, NAME, None),
    );
    let errno = match first {
        Err(Error::Kernel { errno, .. }) => errno,
        r => return r,
    };
    let mut log = vec![0u8; 64 * 1024];
    let again = explain::kernel(
        "bpf",
        format_args!("BPF_PROG_LOAD {NAME} (log_level 1)"),
        "again, with the verifier's log, to say why it was refused",
        || {
            sys::bpf_prog_load(
                BPF_PROG_TYPE_CGROUP_DEVICE,
                &bytes,
                LICENSE,
                NAME,
                Some(&mut log),
            )
        },
    );
    if let Ok(fd) = again {
        return Ok(fd);
    }
    let text = String::from_utf8_lossy(log.split(|b| *b == 0).next().unwrap_or_default());
    // The reason is at the end; before it the verifier retraces the path.
    // Its last line counts what it processed; that says nothing here.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("processed "))
        .collect();
    let tail = lines[lines.len().saturating_sub(12)..].join(" | ");
    Err(Error::Kernel {
        call: "bpf".into(),
        target: format!(
            "BPF_PROG_LOAD BPF_PROG_TYPE_CGROUP_DEVICE ({n} instructions; the verifier said: {})",
            if tail.is_empty() { "nothing" } else { &tail }
        ),
        errno,
    })
}

// ---------------------------------------------------------------------
// The program.
//
// eBPF is a small 64-bit machine: eleven registers (r0 holds the result,
// r1 points at the context, here `bpf_cgroup_dev_ctx`), and instructions of
// 8 bytes: an opcode, a destination and a source register, a 16-bit jump
// offset (counted in instructions, from the next one) and a 32-bit
// immediate. The verifier accepts only programs that always end, never
// read an unset register, only read the context where it may, and have no
// instruction that cannot be reached.
//
// For the rules "deny a *:* rwm", "allow c 1:3 rw", "allow c 1:5 r", the
// program is (the accesses in the order mknod, read, write; one block for
// each access some rule names, its rules from the last one back):
//
//       r2 = *(u32 *)(r1 + 0)    access_type
//       r3 = r2 >> 16            the accesses asked for
//       r2 &= 0xffff             the device type
//       r4 = *(u32 *)(r1 + 4)    major
//       r5 = *(u32 *)(r1 + 8)    minor
//   mknod:
//       r0 = r3 & 1
//       if r0 == 0 goto read     mknod not asked for
//       r0 = 0; exit             "deny a *:* rwm" matches every device
//   read:
//       r0 = r3 & 2
//       if r0 == 0 goto write
//       if r2 != 2 goto rule2    "allow c 1:5 r"
//       if r4 != 1 goto rule2
//       if r5 != 5 goto rule2
//       goto write               allowed: decide the next access
//   rule2:
//       if r2 != 2 goto rule3    "allow c 1:3 rw"
//       ...
//   rule3:
//       r0 = 0; exit             "deny a *:* rwm"
//   write:
//       ...
//   done:
//       r0 = 1; exit             every access asked for is allowed
//
// A block stops at a rule that matches every device: the rules before it
// can never decide that access.
// ---------------------------------------------------------------------

/// The registers the program uses.
const R0: u8 = 0; // the verdict (and scratch before it)
const R1: u8 = 1; // the context, as the kernel passes it
const R2: u8 = 2; // the device type
const R3: u8 = 3; // the accesses asked for
const R4: u8 = 4; // major
const R5: u8 = 5; // minor

/// The opcode's parts: instruction class, then operation and operand kind.
const BPF_LDX: u8 = 0x01; // load into a register from memory
const BPF_ALU: u8 = 0x04; // 32-bit arithmetic (clears the upper half)
const BPF_JMP: u8 = 0x05; // jumps, comparing all 64 bits
const BPF_W: u8 = 0x00; // a 32-bit word
const BPF_MEM: u8 = 0x60; // at register + offset
const BPF_K: u8 = 0x00; // the other operand is the immediate
const BPF_MOV: u8 = 0xb0;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_JA: u8 = 0x00;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

/// Where the fields of `bpf_cgroup_dev_ctx` are.
const CTX_ACCESS_TYPE: i16 = 0;
const CTX_MAJOR: i16 = 4;
const CTX_MINOR: i16 = 8;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// `dst = *(u32 *)(src + off)`
    const fn load_u32(dst: u8, src: u8, off: i16) -> Self {
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
    }

    /// `dst = imm`, 32 bits.
    const fn mov(dst: u8, imm: i32) -> Self {
        Insn::new(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm)
    }

    /// `dst = src`, 32 bits.
    const fn mov_reg(dst: u8, src: u8) -> Self {
        const BPF_X: u8 = 0x08; // the other operand is the source register
        Insn::new(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
    }

    /// `dst &= imm`, 32 bits.
    const fn and(dst: u8, imm: i32) -> Self {
        Insn::new(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm)
    }

    /// `dst >>= imm`, 32 bits.
    const fn rsh(dst: u8, imm: i32) -> Self {
        Insn::new(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm)
    }

    /// `return r0`
    const fn exit() -> Self {
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
    }

    /// The 8 bytes the kernel reads: the two registers share a byte as two
    /// 4-bit fields, the destination first in the C bit-field order (the
    /// low half on little-endian machines).
    fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            self.dst | self.src << 4
        } else {
            self.dst << 4 | self.src
        };
        let [o0, o1] = self.off.to_ne_bytes();
        let [i0, i1, i2, i3] = self.imm.to_ne_bytes();
        [self.code, regs, o0, o1, i0, i1, i2, i3]
    }
}

/// A jump target, placed once the code before it is written.
#[derive(Clone, Copy)]
struct Label(usize);

/// Writes the program, then turns each jump's label into its offset.
#[derive(Default)]
struct Assembler {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    jumps: Vec<(usize, Label)>,
}

impl Assembler {
    fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The label names the next instruction written.
    fn place(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    fn jump_to(&mut self, code: u8, reg: u8, imm: i32, to: Label) {
        self.jumps.push((self.insns.len(), to));
        self.emit(Insn::new(code, reg, 0, 0, imm));
    }

    /// `goto to`
    fn goto(&mut self, to: Label) {
        self.jump_to(BPF_JMP | BPF_JA, 0, 0, to);
    }

    /// `if reg == imm goto to`
    fn if_eq(&mut self, reg: u8, imm: i32, to: Label) {
        self.jump_to(BPF_JMP | BPF_JEQ | BPF_K, reg, imm, to);
    }

    /// `if reg != imm goto to`
    fn if_ne(&mut self, reg: u8, imm: i32, to: Label) {
        self.jump_to(BPF_JMP | BPF_JNE | BPF_K, reg, imm, to);
    }

    fn finish(mut self) -> Result<Vec<Insn>> {
        for (at, to) in self.jumps {
            let target = self.labels[to.0].unwrap_or(self.insns.len());
            // Offsets count from the instruction after the jump.
            self.insns[at].off = i16::try_from(target - at - 1).map_err(|_| {
                Error::Other(format!(
                    "linux.resources.devices: too many rules for one device filter ({} instructions)",
                    self.insns.len()
                ))
            })?;
        }
        Ok(self.insns)
    }
}

/// A rule in the program's terms: `None` matches anything.
struct Check {
    allow: bool,
    dev_type: Option<i32>,
    major: Option<i32>,
    minor: Option<i32>,
    access: i32,
}

impl Check {
    fn matches_every_device(&self) -> bool {
        self.dev_type.is_none() && self.major.is_none() && self.minor.is_none()
    }
}

fn check(i: usize, r: &Rule) -> Result<Check> {
    let field = |name: &str| format!("linux.resources.devices[{i}].{name}");
    let number = |v: Option<i64>, name: &str| match v {
        None | Some(-1) => Ok(None),
        // Linux device numbers are 12 (major) and 20 (minor) bits wide.
        Some(v) => i32::try_from(v)
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(|| {
                Error::Other(format!("{} is {v}, which is no device number", field(name)))
            }),
    };
    let mut access = 0;
    for c in r.access.chars() {
        access |= match c {
            'r' => BPF_DEVCG_ACC_READ,
            'w' => BPF_DEVCG_ACC_WRITE,
            'm' => BPF_DEVCG_ACC_MKNOD,
            _ => {
                return Err(Error::Other(format!(
                    "{} is {:?}; it may hold only r, w and m",
                    field("access"),
                    r.access
                )))
            }
        };
    }
    if access == 0 {
        access = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
    }
    Ok(Check {
        allow: r.allow,
        dev_type: match r.kind {
            Kind::All => None,
            Kind::Char => Some(BPF_DEVCG_DEV_CHAR),
            Kind::Block => Some(BPF_DEVCG_DEV_BLOCK),
        },
        major: number(r.major, "major")?,
        minor: number(r.minor, "minor")?,
        access,
    })
}

/// Compile the rules into the program drawn above.
fn compile(rules: &[Rule]) -> Result<Vec<Insn>> {
    let checks = rules
        .iter()
        .enumerate()
        .map(|(i, r)| check(i, r))
        .collect::<Result<Vec<_>>>()?;
    let mut a = Assembler::default();
    a.emit(Insn::load_u32(R2, R1, CTX_ACCESS_TYPE));
    a.emit(Insn::mov_reg(R3, R2));
    a.emit(Insn::rsh(R3, 16));
    a.emit(Insn::and(R2, 0xffff));
    a.emit(Insn::load_u32(R4, R1, CTX_MAJOR));
    a.emit(Insn::load_u32(R5, R1, CTX_MINOR));
    for access in [BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE] {
        // The rules that can decide this access, the last one first.
        let mut deciders = Vec::new();
        for c in checks.iter().rev().filter(|c| c.access & access != 0) {
            deciders.push(c);
            if c.matches_every_device() {
                break;
            }
        }
        if deciders.is_empty() {
            continue; // no rule names it: allowed
        }
        let next_access = a.label();
        a.emit(Insn::mov_reg(R0, R3));
        a.emit(Insn::and(R0, access));
        a.if_eq(R0, 0, next_access);
        for c in deciders {
            let next_rule = a.label();
            for (reg, want) in [(R2, c.dev_type), (R4, c.major), (R5, c.minor)] {
                if let Some(v) = want {
                    a.if_ne(reg, v, next_rule);
                }
            }
            if c.allow {
                a.goto(next_access);
            } else {
                a.emit(Insn::mov(R0, 0));
                a.emit(Insn::exit());
            }
            a.place(next_rule);
        }
        // Falling out of the block: no rule matched, so allowed.
        a.place(next_access);
    }
    a.emit(Insn::mov(R0, 1));
    a.emit(Insn::exit());
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: Kind, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: access.to_string(),
        }
    }

    fn deny_all() -> Rule {
        rule(false, Kind::All, None, None, "rwm")
    }

    /// Docker's default list, as a config.json carries it.
    fn docker_default() -> Vec<Rule> {
        let c = |maj, min: Option<i64>| rule(true, Kind::Char, Some(maj), min, "rwm");
        vec![
            deny_all(),
            rule(true, Kind::Char, None, None, "m"),
            rule(true, Kind::Block, None, None, "m"),
            c(1, Some(3)),
            c(1, Some(5)),
            c(1, Some(7)),
            c(1, Some(8)),
            c(1, Some(9)),
            c(5, Some(0)),
            c(5, Some(1)),
            c(5, Some(2)),
            c(136, None),
            c(10, Some(200)),
        ]
    }

    /// Run the program as the kernel would, on one request.
    fn run(program: &[Insn], dev_type: u32, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [dev_type | access << 16, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0;
        loop {
            let i = program[pc];
            pc += 1;
            let (dst, src) = (i.dst as usize, i.src as usize);
            let jump = |taken: bool| if taken { i.off as usize } else { 0 };
            match i.code {
                c if c == BPF_LDX | BPF_MEM | BPF_W => {
                    assert_eq!(src, 1, "loads read the context");
                    r[dst] = ctx[i.off as usize / 4] as u64;
                }
                c if c == BPF_ALU | BPF_MOV | BPF_K => r[dst] = i.imm as u32 as u64,
                0xbc => r[dst] = r[src] as u32 as u64,
                c if c == BPF_ALU | BPF_AND | BPF_K => {
                    r[dst] = (r[dst] as u32 & i.imm as u32) as u64
                }
                c if c == BPF_ALU | BPF_RSH | BPF_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                c if c == BPF_JMP | BPF_JA => pc += jump(true),
                c if c == BPF_JMP | BPF_JEQ => pc += jump(r[dst] == i.imm as i64 as u64),
                c if c == BPF_JMP | BPF_JNE => pc += jump(r[dst] != i.imm as i64 as u64),
                c if c == BPF_JMP | BPF_EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    const C: u32 = BPF_DEVCG_DEV_CHAR as u32;
    const B: u32 = BPF_DEVCG_DEV_BLOCK as u32;
    const M: u32 = BPF_DEVCG_ACC_MKNOD as u32;
    const R: u32 = BPF_DEVCG_ACC_READ as u32;
    const W: u32 = BPF_DEVCG_ACC_WRITE as u32;

    #[test]
    fn devices_bpf_rules_decide_as_the_spec_reads() {
        let p = compile(&docker_default()).unwrap();
        assert_eq!(run(&p, C, 1, 3, R | W), 1, "/dev/null read-write");
        assert_eq!(run(&p, C, 136, 4, R | W), 1, "a pty: any minor");
        assert_eq!(run(&p, C, 4, 1, M), 1, "any char device may be made");
        assert_eq!(run(&p, C, 4, 1, R), 0, "but not opened");
        assert_eq!(run(&p, C, 4, 1, R | M), 0);
        assert_eq!(run(&p, B, 8, 0, R), 0, "the host's disk");
        assert_eq!(run(&p, B, 8, 0, M), 1);

        let nothing = compile(&[]).unwrap();
        assert_eq!(
            run(&nothing, B, 8, 0, R | W | M),
            1,
            "no rule: v1's allow-all"
        );

        // A later rule overrides an earlier one, access by access.
        let p = compile(&[
            rule(true, Kind::Char, Some(1), Some(3), "rwm"),
            rule(false, Kind::Char, Some(1), Some(3), "w"),
        ])
        .unwrap();
        assert_eq!(run(&p, C, 1, 3, R), 1);
        assert_eq!(run(&p, C, 1, 3, W), 0);
        assert_eq!(run(&p, C, 1, 3, R | W), 0);
        assert_eq!(run(&p, B, 1, 3, W), 1, "another type: no rule names it");

        // Read and write allowed by two rules: O_RDWR asks for both.
        let p = compile(&[
            deny_all(),
            rule(true, Kind::Char, Some(1), Some(3), "r"),
            rule(true, Kind::Char, Some(1), Some(3), "w"),
        ])
        .unwrap();
        assert_eq!(run(&p, C, 1, 3, R | W), 1);
        assert_eq!(run(&p, C, 1, 3, M), 0);

        // "a" is both types; -1 is any; an empty access is all of them.
        let p = compile(&[deny_all(), rule(true, Kind::All, Some(7), Some(-1), "")]).unwrap();
        assert_eq!(run(&p, B, 7, 0, R | W | M), 1);
        assert_eq!(run(&p, C, 7, 99, R), 1);
        assert_eq!(run(&p, C, 8, 0, R), 0);

        // Deny everything, then allow everything.
        let p = compile(&[deny_all(), rule(true, Kind::All, None, None, "rwm")]).unwrap();
        assert_eq!(run(&p, B, 8, 0, R | W | M), 1);
    }

    #[test]
    fn devices_bpf_refuses_bad_rules() {
        let bad_access = compile(&[rule(true, Kind::Char, Some(1), Some(3), "rx")]);
        assert!(bad_access
            .unwrap_err()
            .to_string()
            .contains("devices[0].access"));
        let bad_major = compile(&[deny_all(), rule(true, Kind::Char, Some(-5), None, "r")]);
        assert!(bad_major
            .unwrap_err()
            .to_string()
            .contains("devices[1].major"));
        let too_big = compile(&[rule(true, Kind::Char, None, Some(1 << 40), "r")]);
        assert!(too_big
            .unwrap_err()
            .to_string()
            .contains("devices[0].minor"));
    }

    fn is_root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("skipped: loading BPF programs needs root");
        }
        root
    }

    #[test]
    fn devices_bpf_verifier_accepts_the_programs() {
        if !is_root() {
            return;
        }
        let many: Vec<Rule> = std::iter::once(deny_all())
            .chain((0..500).map(|i| rule(i % 3 != 0, Kind::Char, Some(i), Some(i * 7), "rw")))
            .collect();
        let lists = [
            docker_default(),
            vec![],
            vec![deny_all()],
            // Each block ends in a `goto` to the very next instruction.
            vec![deny_all(), rule(true, Kind::All, None, None, "rwm")],
            vec![rule(true, Kind::Block, Some(8), None, "r")],
            many,
        ];
        for rules in &lists {
            let program = compile(rules).unwrap();
            if let Err(e) = load(&program) {
                panic!("{} rules, {} instructions: {e}", rules.len(), program.len());
            }
        }
        // A refused program explains itself with the verifier's words.
        let unset_r0 = [Insn::exit()];
        let err = load(&unset_r0).unwrap_err().to_string();
        assert!(err.contains("R0 !read_ok"), "{err}");
    }

    /// A scratch cgroup on the v2 tree, removed however the test ends.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            for _ in 0..200 {
                match std::fs::remove_dir(&self.0) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    _ => return,
                }
            }
        }
    }

    /// Start a shell that moves itself into the cgroup and tries each
    /// device; returns each probe's line: "ok" or the shell's error.
    fn probe(cgroup: &Path, node: &Path) -> std::collections::HashMap<String, String> {
        let script = r#"
            cgroup=$1 node=$2
            echo $$ > "$cgroup/cgroup.procs" || exit 90
            try() { if msg=$( (eval "$2") 2>&1 ); then echo "$1=ok"; else echo "$1=$msg"; fi; }
            try 'r null' 'exec 3< /dev/null'
            try 'rw null' 'exec 3<> /dev/null'
            try 'r zero' 'exec 3< /dev/zero'
            try 'w zero' 'exec 3> /dev/zero'
            try 'r full' 'exec 3< /dev/full'
            try 'mknod null' 'mknod "$node" c 1 3'
        "#;
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", script, "sh"])
            .arg(cgroup)
            .arg(node)
            .output()
            .unwrap();
        assert!(out.status.success(), "probe: {out:?}");
        let _ = std::fs::remove_file(node);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn query(dir: &Path) -> Vec<u32> {
        let fd = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        attached(&fd, dir).unwrap()
    }

    #[test]
    fn devices_bpf_filter_applies_and_replaces() {
        if !is_root() {
            return;
        }
        let unified = Path::new("/sys/fs/cgroup/unified");
        let root = if unified.exists() {
            unified
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let id = std::process::id();
        let dir = root.join(format!("pk-bpf-test-{id}"));
        std::fs::create_dir(&dir).unwrap();
        let scratch = Scratch(dir.clone());
        let node = std::env::temp_dir().join(format!("pk-bpf-test-{id}-node"));

        let rules = [
            deny_all(),
            rule(true, Kind::Char, Some(1), Some(3), "rw"),
            rule(true, Kind::Char, Some(1), Some(5), "r"),
        ];
        install(&dir, &rules).unwrap();
        let first = query(&dir);
        assert_eq!(first.len(), 1, "{first:?}");
        let got = probe(&dir, &node);
        let denied = |k: &str| got[k].contains("Operation not permitted");
        assert_eq!(got["r null"], "ok", "{got:?}");
        assert_eq!(got["rw null"], "ok", "{got:?}");
        assert_eq!(got["r zero"], "ok", "{got:?}");
        assert!(denied("w zero"), "{got:?}");
        assert!(denied("r full"), "{got:?}");
        assert!(denied("mknod null"), "{got:?}");

        // An update replaces the filter: /dev/full opens now, and one
        // program is attached however many updates there were (more than
        // the 64 the kernel would let stack).
        let mut opened = rules.to_vec();
        opened.push(rule(true, Kind::Char, Some(1), Some(7), "r"));
        for _ in 0..70 {
            install(&dir, &opened).unwrap();
        }
        let now = query(&dir);
        assert_eq!(now.len(), 1, "{now:?}");
        assert_ne!(now, first);
        let got = probe(&dir, &node);
        assert_eq!(got["r full"], "ok", "{got:?}");
        assert!(got["w zero"].contains("Operation not permitted"), "{got:?}");
        drop(scratch);
        assert!(!dir.exists(), "the scratch cgroup is gone");
    }
}
