using Sockeye.Timing;
using Sockeye.Transport;

namespace Sockeye.Dialing;

public sealed partial class Dialer
{
    // What this dialer's connections share, with the scanner that times them; created on first use,
    // because the options are init-only properties set after the constructor has run.
    private ConnectionContext? _context;

    /// <summary>How long a dialed connection may go without receiving a byte before it is closed;
    /// <see cref="TimeSpan.Zero"/> turns it off. Each connection can override it
    /// (<see cref="Connection.IdleTimeout"/>).</summary>
    /// <remarks>Default: off, as Go's <c>net.Dialer</c>. Only received bytes count as activity, so a
    /// client that only sends (a log shipper) must leave it off or expect the server to answer. See
    /// <see cref="TcpServerOptions.IdleTimeout"/> for the trade-off.</remarks>
    public TimeSpan IdleTimeout { get; init; }

    /// <summary>The longest one read on a dialed connection may take, from <c>ReadAsync</c> until bytes
    /// are consumed (a whole frame through a codec); <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <remarks>Default: off. Set it to the longest the server may take to answer a request, so a
    /// server that stops answering fails the read instead of hanging it. A connection that waits for
    /// pushes it did not ask for must leave it off. See <see cref="TcpServerOptions.ReadTimeout"/>.</remarks>
    public TimeSpan ReadTimeout { get; init; }

    /// <summary>The longest one send on a dialed connection may wait for the kernel to take its bytes:
    /// how long the server may stop reading while the client has output for it;
    /// <see cref="TimeSpan.Zero"/> turns it off.</summary>
    /// <remarks>Default: off. With it off, a flush to a server that never reads waits forever. See
    /// <see cref="TcpServerOptions.WriteTimeout"/>.</remarks>
    public TimeSpan WriteTimeout { get; init; }

    /// <summary>How often the dialer's one timer checks its connections' timeouts and deadlines.</summary>
    /// <remarks>Default: 250 ms, as <see cref="TcpServerOptions.TimeoutResolution"/>: a timeout never
    /// fires early and fires at most this late. Between 10 ms and 10 s. The timer runs only while one
    /// of the dialer's connections has a timeout or deadline set, and on
    /// <see cref="TimeProvider"/>.</remarks>
    public TimeSpan TimeoutResolution { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How many of this dialer's connections were closed because a timeout or deadline of
    /// <paramref name="kind"/> expired.</summary>
    /// <param name="kind">The timeout or deadline to count.</param>
    /// <returns>The count; safe to read from any thread.</returns>
    public long GetTimeoutCount(ConnectionTimeoutKind kind) => Context.Deadlines!.Counters.Get(kind);

    /// <summary>How many of this dialer's connections were closed by a timeout or deadline of any kind.</summary>
    public long TimedOutConnections => Context.Deadlines!.Counters.Total;

    /// <summary>The scanner that times this dialer's connections (tests).</summary>
    internal DeadlineScanner DeadlineScanner => Context.Deadlines!.Scanner;

    /// <summary>
    /// What every connection of this dialer shares: the process-wide pools and one
    /// <see cref="Timing.DeadlineScanner"/> on the dialer's <see cref="TimeProvider"/>.
    /// </summary>
    /// <remarks>One scanner per dialer rather than one per process: the clock and the resolution are
    /// the dialer's (tests give it a fake clock), and so are the timeout counts. The scanner ticks on
    /// demand, from the first connection that times something until the last one is disposed, so a
    /// dialer without deadlines runs no timer and an abandoned dialer holds none.</remarks>
    private ConnectionContext Context => Volatile.Read(ref _context) ?? CreateContext();

    private ConnectionContext CreateContext()
    {
        var scanner = new DeadlineScanner(TimeProvider, TimeoutResolution) { TicksOnDemand = true };
        var settings = new DeadlineSettings(scanner, new Diagnostics.EnumCounters<ConnectionTimeoutKind>(), IdleTimeout, ReadTimeout, WriteTimeout, minReceiveRate: null);

        // A losing racer's context is dropped: its scanner never had a slot, so it never had a timer.
        var context = ClientPipes.CreateContext(settings);
        return Interlocked.CompareExchange(ref _context, context, null) ?? context;
    }

    private void ValidateDeadlineOptions()
    {
        RequireNotNegative(IdleTimeout, nameof(IdleTimeout));
        RequireNotNegative(ReadTimeout, nameof(ReadTimeout));
        RequireNotNegative(WriteTimeout, nameof(WriteTimeout));
        if (TimeoutResolution < TimeSpan.FromMilliseconds(10) || TimeoutResolution > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"{nameof(TimeoutResolution)} must be between 10 ms and 10 s, got {TimeoutResolution}", nameof(TimeoutResolution));
        }

        static void RequireNotNegative(TimeSpan value, string name)
        {
            if (value < TimeSpan.Zero)
            {
                throw new ArgumentException($"{name} must not be negative (zero turns it off), got {value}", name);
            }
        }
    }
}
