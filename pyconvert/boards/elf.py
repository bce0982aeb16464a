"""Read what the fit check and the QEMU runner need from a 32-bit ARM ELF file:
section sizes by kind, and symbol addresses. Plain `struct`, no binutils needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

SHF_WRITE, SHF_ALLOC = 0x1, 0x2
SHT_SYMTAB, SHT_NOBITS = 2, 8


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int
    addr: int
    size: int

    @property
    def in_flash(self) -> bool:
        """Loaded contents: code, constants, and .data's initial values."""
        return bool(self.flags & SHF_ALLOC) and self.type != SHT_NOBITS

    @property
    def in_ram(self) -> bool:
        """Writable data and the NOLOAD reserves (.bss, .heap, .stack)."""
        return bool(self.flags & SHF_ALLOC) and bool(self.flags & SHF_WRITE or self.type == SHT_NOBITS)


class Elf:
    def __init__(self, path):
        self.path = Path(path)
        data = self.path.read_bytes()
        if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
            raise ValueError(f"{self.path}: not a 32-bit little-endian ELF file")
        shoff, = struct.unpack_from("<I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
        raw = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]
        names = raw[shstrndx]

        def string(table, offset):
            start = table[4] + offset
            return data[start:data.index(b"\0", start)].decode()

        self.sections = [Section(string(names, h[0]), h[1], h[2], h[3], h[5]) for h in raw]
        self.symbols = {}
        for h in raw:
            if h[1] == SHT_SYMTAB:
                strtab = raw[h[6]]
                for off in range(h[4], h[4] + h[5], 16):
                    st_name, st_value, st_size = struct.unpack_from("<III", data, off)
                    if st_name:
                        self.symbols[string(strtab, st_name)] = (st_value, st_size)

    def section_size(self, name: str) -> int:
        return sum(s.size for s in self.sections if s.name == name)

    def symbol(self, name: str) -> int:
        if name not in self.symbols:
            raise ValueError(f"{self.path}: no symbol {name!r}")
        return self.symbols[name][0]

    @property
    def flash_bytes(self) -> int:
        return sum(s.size for s in self.sections if s.in_flash)

    @property
    def ram_bytes(self) -> int:
        return sum(s.size for s in self.sections if s.in_ram)
