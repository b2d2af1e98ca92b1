"""Measuring training steps: time, peak memory, FLOPs.

Several models are timed interleaved in one process
(:func:`measure_interleaved`), so that machine noise hits all of them
alike. Used by ``tools/analysis_tools/benchmark_models.py`` and
``benchmark_pretrain.py``.
"""
import ctypes
import platform
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, List, Optional, Protocol, Sequence

import torch
from torch import nn

PRECISIONS = ('fp32', 'bf16', 'fp16')

# bf16 dense peak of common accelerators, TFLOP/s (vendor figures)
BF16_PEAK_TFLOPS = {
    'H100 SXM': 989.4,
    'H100 PCIe': 756.0,
    'H100': 989.4,
    'H200': 989.4,
    'A100': 312.0,
    'L40S': 362.0,
    'A10': 125.0,
}


def autocast(device: str, precision: str):
    """The autocast context of a precision name: fp32, bf16 or fp16."""
    if precision == 'fp32':
        return nullcontext()
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}[precision]
    return torch.autocast(device_type=device, dtype=dtype)


def synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def timed_step(loss_fn: Callable[[], torch.Tensor],
               optimizer: torch.optim.Optimizer, device: str,
               precision: str) -> Dict[str, float]:
    """One training step; returns seconds of forward+backward and of the
    optimizer step."""
    synchronize(device)
    start = time.perf_counter()
    with autocast(device, precision):
        loss = loss_fn()
    loss.backward()
    synchronize(device)
    middle = time.perf_counter()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    end = time.perf_counter()
    return dict(fwd_bwd=middle - start, optim=end - middle)


def timed_inference(predict_fn: Callable[[], object], device: str,
                    precision: str) -> Dict[str, float]:
    """One eval-mode prediction (no gradients, autocast at ``precision``);
    returns its seconds as ``{'infer': s}``."""
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad(), autocast(device, precision):
        predict_fn()
    synchronize(device)
    return dict(infer=time.perf_counter() - start)


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _reset_cpu_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current resident set
        return True
    except OSError:
        return False


def return_freed_memory() -> bool:
    """Make glibc hand large freed blocks back to the OS at once, so that the
    resident set follows live tensors (needed for CPU peak memory; slows
    allocation, so call it after timing). False where unavailable."""
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = bool(
        libc.mallopt(m_mmap_threshold, 64 * 1024)
        and libc.mallopt(m_trim_threshold, 0))
    libc.malloc_trim(0)  # release what the heap already holds
    return ok


@contextmanager
def peak_memory(device: str):
    """Yields a dict whose ``'bytes'`` is, after the block, the peak memory
    the block added: the CUDA allocator's peak on GPU; on CPU the rise of
    the process's resident-set high-water mark (``None`` where /proc cannot
    be reset)."""
    result: Dict[str, Optional[int]] = {'bytes': None}
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        yield result
        torch.cuda.synchronize()
        result['bytes'] = torch.cuda.max_memory_allocated() - base
        return
    ok = _reset_cpu_peak()
    base = _status_kib('VmRSS')
    yield result
    if ok:
        result['bytes'] = (_status_kib('VmHWM') - base) * 1024


def step_flops(loss_fn: Callable[[], torch.Tensor]) -> int:
    """FLOPs of one forward + backward (torch's FLOP counter: matmuls and
    convolutions, multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        loss_fn().backward()
    return counter.get_total_flops()


def matmul_tflops(device: str,
                  dtype: torch.dtype,
                  sizes: Sequence[int] = (2048, 4096),
                  repeats: int = 3) -> float:
    """The machine's dense matmul throughput at ``dtype``, TFLOP/s: the best
    of ``repeats`` square ``n x n @ n x n`` products for each ``n`` in
    ``sizes`` (after one warm-up each), on the threads torch uses. The
    reference a step's achieved throughput is a fraction of."""
    best = 0.
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        torch.mm(a, b)
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            torch.mm(a, b)
            synchronize(device)
            best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e12)
    return best


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def bf16_peak_tflops(device_name: str) -> Optional[float]:
    """Vendor bf16 dense peak for a CUDA device name, None if unknown."""
    for key in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True):
        if key in device_name:
            return BF16_PEAK_TFLOPS[key]
    return None


def step_peak_memory(step: Callable[[], object],
                     device: str,
                     repeats: int = 2) -> Optional[int]:
    """Peak memory (bytes, see :func:`peak_memory`) that one call of
    ``step`` adds: one unmeasured call first (so that every allocation
    follows the current allocator policy), then the largest of ``repeats``
    measured calls, each (on CPU) after the free heap pages have been
    returned to the OS. ``None`` where the CPU peak cannot be measured."""
    step()
    peaks = []
    for _ in range(repeats):
        if device == 'cpu':
            _trim_heap()
        with peak_memory(device) as peak:
            step()
        peaks.append(peak['bytes'])
    if any(p is None for p in peaks):
        return None
    return max(peaks)


def _trim_heap() -> None:
    """Hand free heap pages of every glibc arena back to the OS, so that
    the resident set a step starts from holds no reusable free memory."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
        pass


def state_bytes(model: nn.Module,
                optimizer: Optional[torch.optim.Optimizer] = None) -> int:
    """Bytes of the tensors that live between training steps: the model's
    parameters and buffers and the optimizer's state (gradients, freed by
    ``zero_grad(set_to_none=True)``, are not counted)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if optimizer is not None:
        for state in optimizer.state.values():
            tensors += [v for v in state.values() if torch.is_tensor(v)]
    seen, total = set(), 0
    for t in tensors:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def device_name(device: str) -> str:
    """The CUDA device's name, or ``CPU (<processor>)``."""
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'CPU ({platform.processor() or platform.machine()})'


# ------------------------------------------------------- interleaved runs
class Steppable(Protocol):
    """What :func:`measure_interleaved` and :func:`measure_memory` step: a
    loss closure and the optimizer (wrapper) it trains, and where the
    measurements go."""
    optim_wrapper: object  # has step() and zero_grad(set_to_none=...)
    times: Dict[str, List[Dict[str, float]]]
    memory: Dict[str, Optional[int]]

    def loss(self) -> torch.Tensor:
        ...


StepFn = Callable[..., Dict[str, float]]


def measure_interleaved(contenders: Sequence[Steppable],
                        precisions: Sequence[str],
                        iters: int,
                        warmup: int,
                        device: str,
                        step: StepFn = timed_step,
                        progress: Optional[Callable[[int, int],
                                                    None]] = None) -> None:
    """Time ``warmup + iters`` rounds; each round steps every contender once
    at every precision (precision-major, contenders in order; a contender
    with a ``precisions`` attribute only at those). The rounds after the
    warm-up are appended to ``contender.times[precision]``;
    ``progress(done, total)`` is called after every round."""
    for it in range(warmup + iters):
        for precision in precisions:
            for c in _at(contenders, precision):
                times = step(c.loss, c.optim_wrapper, device, precision)
                if it >= warmup:
                    c.times.setdefault(precision, []).append(times)
        if progress is not None:
            progress(it + 1, warmup + iters)


def _at(contenders: Sequence[Steppable], precision: str) -> list:
    """The contenders that run at ``precision``."""
    return [
        c for c in contenders
        if precision in getattr(c, 'precisions', (precision, ))
    ]


def measure_memory(contenders: Sequence[Steppable], precisions: Sequence[str],
                   device: str) -> bool:
    """Peak memory a training step adds, per contender and precision (run
    after the timings: on CPU it changes glibc's allocation policy). False
    where it cannot be measured (then nothing is set)."""
    if device == 'cpu' and not return_freed_memory():
        return False
    for precision in precisions:
        for c in _at(contenders, precision):
            c.memory[precision] = step_peak_memory(
                lambda: timed_step(c.loss, c.optim_wrapper, device, precision),
                device)
    return True
