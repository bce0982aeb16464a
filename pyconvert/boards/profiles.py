"""Board profiles: what a firmware build and a QEMU run need to know about a board.

Budgets are the board's memories (docs/design.md, section 7). The MEMORY block of
each board's linker script (ld/<board>.ld) states the same origins and sizes; a
test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

KB = 1024
MB = 1024 * KB

# Cortex-M code-generation flags per core. Hard-float where the core has an FPU,
# so float arithmetic is single FPU instructions; none of the runtime's float work
# is double, so the M7's double-precision unit changes nothing in the results.
CM0 = ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft")
CM3 = ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft")
CM4F = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
CM7 = ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")
CM33 = ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16")


@dataclass(frozen=True)
class Profile:
    name: str
    core: str
    cpu_flags: tuple          # arm-none-eabi-gcc flags for the core (compile and link)
    flash_origin: int
    flash_size: int           # the flash budget, bytes
    ram_origin: int
    ram_size: int             # the RAM budget, bytes
    qemu_machine: str | None  # qemu-system-arm -M; None: not emulated (build + fit check)
    uart: str                 # the console UART, for users who retarget stdout to it
    # RAM the linker reserves beside .data and .bss. Measured (pyconvert bench): the
    # seed models' deepest stack is under 600 bytes (newlib's fopen included), and
    # newlib-nano's stdio takes 872 bytes of heap for its FILE table.
    stack_reserve: int = 8 * KB
    heap_reserve: int = 1 * KB
    note: str = ""

    @property
    def linker_script(self) -> str:
        return f"{self.name}.ld"

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    @property
    def has_fpu(self) -> bool:
        return "-mfloat-abi=hard" in self.cpu_flags


PROFILES = {p.name: p for p in [
    Profile("mps2-an386", "Cortex-M4F", CM4F, 0x00000000, 4 * MB, 0x20000000, 4 * MB,
            "mps2-an386", "CMSDK UART0 @ 0x40004000", note="default benchmark board"),
    Profile("netduinoplus2", "Cortex-M4F", CM4F, 0x08000000, 1 * MB, 0x20000000, 128 * KB,
            "netduinoplus2", "STM32 USART1 @ 0x40011000",
            note="STM32F405; its 64 KB CCM is not emulated"),
    Profile("mps2-an500", "Cortex-M7", CM7, 0x00000000, 4 * MB, 0x20000000, 4 * MB,
            "mps2-an500", "CMSDK UART0 @ 0x40004000"),
    Profile("mps2-an505", "Cortex-M33", CM33, 0x10000000, 4 * MB, 0x38000000, 4 * MB,
            "mps2-an505", "CMSDK UART0 @ 0x50200000 (Secure alias)",
            note="runs in Secure state at the Secure aliases"),
    Profile("mps2-an385", "Cortex-M3", CM3, 0x00000000, 4 * MB, 0x20000000, 4 * MB,
            "mps2-an385", "CMSDK UART0 @ 0x40004000", note="no FPU: float runs in software"),
    Profile("microbit", "Cortex-M0", CM0, 0x00000000, 256 * KB, 0x20000000, 16 * KB,
            "microbit", "nRF51 UART @ 0x40002000", stack_reserve=2 * KB,
            note="tiny: only the smallest models fit"),
    # An artificial budget: a real chip QEMU does not emulate; build + fit check only.
    Profile("stm32f446", "Cortex-M4F", CM4F, 0x08000000, 512 * KB, 0x20000000, 128 * KB,
            None, "STM32 USART2 @ 0x40004400", note="not emulated: build and fit check only"),
]}

DEFAULT_BOARD = "mps2-an386"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known boards: {', '.join(PROFILES)}") from None
