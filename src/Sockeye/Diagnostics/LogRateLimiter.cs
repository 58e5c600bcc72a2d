namespace Sockeye.Diagnostics;

/// <summary>
/// Lets one message of a kind through per interval and counts the rest, so that an error repeated on
/// every connection (a handler bug under load) writes one line per interval carrying the number it
/// stood for, instead of flooding the log. The one way Sockeye rate-limits a log line (handler faults,
/// accept errors, UDP load shedding). Safe for concurrent use; no lock, no allocation.
/// </summary>
internal sealed class LogRateLimiter(TimeProvider time, TimeSpan interval)
{
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * time.TimestampFrequency);

    // The timestamp of the last message let through; long.MinValue before the first.
    private long _lastWritten = long.MinValue;
    private long _suppressed;

    /// <summary>Whether to write this message now; when so, <paramref name="suppressed"/> is how many
    /// were held back since the last one written.</summary>
    public bool TryEnter(out long suppressed)
    {
        var now = time.GetTimestamp();
        var last = Volatile.Read(ref _lastWritten);
        if ((last == long.MinValue || now - last >= _intervalTicks) && Interlocked.CompareExchange(ref _lastWritten, now, last) == last)
        {
            suppressed = Interlocked.Exchange(ref _suppressed, 0);
            return true;
        }

        Interlocked.Increment(ref _suppressed);
        suppressed = 0;
        return false;
    }

    /// <summary>Starts afresh: the next message is let through at once (an episode of errors ended).</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _suppressed, 0);
        Volatile.Write(ref _lastWritten, long.MinValue);
    }
}
