using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;

namespace Sockeye.Security.Internal;

/// <summary>
/// Gives the C allocator's freed memory back to the operating system after TLS handshakes were aborted:
/// at most one <c>malloc_trim(0)</c> per interval, and only when a handshake failed since the last one.
/// </summary>
/// <remarks>
/// <para>Why: an aborted handshake frees OpenSSL's state (about 55 KB), but glibc keeps freed pages in
/// its arenas for reuse; with many threads each has its own arena, and fragments left by the
/// connections that completed keep the top of each heap from shrinking. Waves of stalled handshakes then
/// ratchet the resident size up with nothing in use (measured 54 MB to 600 MB after four waves of 6,000;
/// one <c>malloc_trim(0)</c> brought it to 150 MB). <c>malloc_trim</c> also returns the free pages in the
/// middle of the heaps (<c>madvise(MADV_DONTNEED)</c>), which the allocator's own trim at the top
/// cannot: glibc tunables (<c>MALLOC_ARENA_MAX</c>, <c>MALLOC_TRIM_THRESHOLD_</c>) measured worse
/// (docs/SECURITY.md, "Stalled handshakes").</para>
/// <para>Coalesced: the first failure after a trim arms a one-shot timer for the interval; failures until
/// it fires only set a flag. So a steady stream of failed handshakes costs one trim per interval.</para>
/// <para>Guarded like the other native calls: Linux only, and only when the process's C library exports
/// <c>malloc_trim</c> (glibc; musl does not), otherwise nothing happens. Safe for concurrent use.</para>
/// </remarks>
internal sealed class NativeMemoryTrim : IDisposable
{
    private static readonly Lazy<MallocTrim?> Trim = new(LoadMallocTrim);

    private readonly ITimer? _timer;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private int _armed;
    private long _trims;

    /// <param name="interval">The least time between two trims; <see cref="TimeSpan.Zero"/> for none.</param>
    /// <param name="time">The clock the timer runs on.</param>
    /// <param name="logger">Where each trim is logged (Debug, event 1301).</param>
    public NativeMemoryTrim(TimeSpan interval, TimeProvider time, ILogger logger)
    {
        _interval = interval;
        _logger = logger;
        if (interval > TimeSpan.Zero && Trim.Value is not null)
        {
            _timer = time.CreateTimer(static s => ((NativeMemoryTrim)s!).Run(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Whether this process can trim (Linux with glibc) and trimming is on.</summary>
    public bool IsActive => _timer is not null;

    /// <summary>How many trims ran, for tests and the log.</summary>
    public long Trims => Interlocked.Read(ref _trims);

    /// <summary>How long the last trim took, for the log and docs/SECURITY.md.</summary>
    public TimeSpan LastDuration { get; private set; }

    /// <summary>Records that a handshake was aborted; a trim follows within the interval.</summary>
    public void HandshakeAborted()
    {
        if (_timer is not null && Interlocked.Exchange(ref _armed, 1) == 0)
        {
            _timer.Change(_interval, Timeout.InfiniteTimeSpan);
        }
    }

    private void Run()
    {
        // Disarm first: a failure during the trim arms the next one.
        Volatile.Write(ref _armed, 0);
        var started = Stopwatch.GetTimestamp();
        Trim.Value!(0);
        LastDuration = Stopwatch.GetElapsedTime(started);
        Interlocked.Increment(ref _trims);
        SockeyeLog.NativeMemoryTrimmed(_logger, LastDuration);
    }

    public void Dispose() => _timer?.Dispose();

    private static MallocTrim? LoadMallocTrim()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        // The C library the runtime already uses: loading it by its soname maps no second copy.
        if (!NativeLibrary.TryLoad("libc.so.6", out var libc) || !NativeLibrary.TryGetExport(libc, "malloc_trim", out var trim))
        {
            return null;
        }

        return Marshal.GetDelegateForFunctionPointer<MallocTrim>(trim);
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int MallocTrim(nuint pad);
}
