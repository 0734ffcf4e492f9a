//! What a panic said, reduced to what a person needs in an operation's `error_message`. A panic
//! from inside libtorch (tch unwraps its errors) carries the C++ exception whole — several KiB of
//! backtrace after the first line, escaped into one line when the panic formatted it with `{:?}`.

/// The text a panic carried (`panic!` with a message, or tch's error).
pub fn message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message")
}

/// The most of a panic's first line kept in a message.
const MAX_CHARS: usize = 300;

/// The first line of `text` — ending at a newline or at an escaped `\n` — without the wrapping of
/// an unwrapped `TchError` (`called `Result::unwrap()` on an `Err` value: Torch("…`), at most
/// [`MAX_CHARS`] characters.
pub fn first_line(text: &str) -> String {
    let end = [text.find('\n'), text.find("\\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    let mut line = text[..end].trim();
    for wrapping in ["called `Result::unwrap()` on an `Err` value: ", "Torch(\""] {
        line = line.strip_prefix(wrapping).unwrap_or(line);
    }
    let line = line.trim_end_matches(['"', ')']);
    let mut shown: String = line.chars().take(MAX_CHARS).collect();
    if line.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

/// Whether a panic's text says that memory ran out (libtorch's CPU allocator: "can't allocate
/// memory", "not enough memory"; CUDA: "out of memory"); such a failure recurs on every attempt of
/// a deterministic run.
pub fn is_allocation_failure(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "out of memory",
        "not enough memory",
        "can't allocate memory",
        "cannot allocate memory",
        "failed to allocate",
        "bad_alloc",
    ]
    .iter()
    .any(|words| text.contains(words))
}

#[cfg(test)]
mod tests {
    use super::{first_line, is_allocation_failure};

    #[test]
    fn a_torch_error_is_cut_to_its_first_line() {
        let panic = "called `Result::unwrap()` on an `Err` value: Torch(\"[enforce fail at \
                     alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried \
                     to allocate 67108864000 bytes.\\nException raised from alloc_cpu at \
                     /pytorch/c10/core/impl/alloc_cpu.cpp:117 (most recent call first):\\nframe \
                     #0: c10::Error::Error\")";
        let line = first_line(panic);
        assert_eq!(
            line,
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: \
             you tried to allocate 67108864000 bytes."
        );
        assert!(is_allocation_failure(&line));
        assert_eq!(first_line("one\ntwo"), "one");
        assert_eq!(first_line(&"x".repeat(1000)).chars().count(), 301);
        assert!(!is_allocation_failure("index out of range"));
    }
}
