using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye.Server;

/// <summary>
/// What one accept loop does when accepts fail, after Go's <c>net/http</c>: temporary errors (out of
/// descriptors or buffers, an aborted handshake) wait 5 ms, doubling to 1 s, with one warning per 10 s
/// carrying the count of the rest; an unexpected error waits the full second and is logged as an
/// error; the first success after an episode resets it and says so. Out of descriptors, it also lets
/// go of the <see cref="DescriptorCushion"/> so the runtime has room, and refuses accepts until the
/// cushion can be taken back. One per listener: .NET's engine has one accept loop per listener, the
/// epoll engine may accept from one listener on several poll threads at once.
/// </summary>
/// <remarks>Safe for concurrent use: the per-accept calls (<see cref="CushionInPlace"/>,
/// <see cref="Succeeded"/>) read one field while all is well and lock only during an episode.</remarks>
internal sealed class AcceptBackoff : IDisposable
{
    // Go's net/http back-off on temporary accept errors: 5 ms, doubling, at most 1 s, reset by a success.
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1);

    // While accepts keep failing, one warning per this interval, carrying the count of the rest.
    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(10);

    private readonly DescriptorCushion _cushion = new();
    private readonly TcpServerCounters _counters;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly ILogger _logger;
    private readonly LogRateLimiter _warnings;
    private readonly Lock _lock = new();
    private TimeSpan _delay;
    private long _errorsInEpisode;

    public AcceptBackoff(TcpServerCounters counters, TimeProvider time, ILogger logger, CancellationToken stopping)
    {
        _counters = counters;
        _time = time;
        _stopping = stopping;
        _logger = logger;
        _warnings = new LogRateLimiter(time, WarningInterval);
    }

    /// <summary>Whether the descriptor cushion is in place, retaking it if it was let go: while it
    /// cannot be retaken, an accepted socket must be refused, or our accepts would eat the room it
    /// gave the runtime.</summary>
    public bool CushionInPlace()
    {
        if (!_cushion.IsReleased)
        {
            return true;
        }

        lock (_lock)
        {
            return !_cushion.IsReleased || _cushion.TryRestore();
        }
    }

    /// <summary>An accept succeeded: ends an episode of errors, if one was going on.</summary>
    public void Succeeded()
    {
        if (Volatile.Read(ref _errorsInEpisode) == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_errorsInEpisode > 0)
            {
                SockeyeLog.AcceptResumed(_logger, _errorsInEpisode);
                _errorsInEpisode = 0;
                _warnings.Reset();
                _delay = TimeSpan.Zero;
            }
        }
    }

    /// <summary>Counts and logs a temporary accept error, then waits out the next back-off step.
    /// Out of descriptors, lets the cushion go first.</summary>
    /// <returns><see langword="false"/> when the server began stopping: leave the loop.</returns>
    public Task<bool> TemporaryErrorAsync(SocketError error)
    {
        TimeSpan delay;
        lock (_lock)
        {
            if (error == SocketError.TooManyOpenSockets)
            {
                _cushion.Release(); // room for the runtime now
            }

            _counters.OnAcceptError();
            _errorsInEpisode++;
            _delay = delay = _delay == TimeSpan.Zero ? FirstDelay : TimeSpan.FromTicks(Math.Min(_delay.Ticks * 2, MaxDelay.Ticks));
            if (_warnings.TryEnter(out var suppressed))
            {
                SockeyeLog.AcceptFailed(_logger, error.ToString(), delay, suppressed);
            }
        }

        return WaitAsync(delay);
    }

    /// <summary>An error the accept loop does not know. Go's server gives up here; a server that
    /// silently stops accepting is worse, so it is logged loudly and retried at the slowest back-off.</summary>
    /// <returns><see langword="false"/> when the server began stopping: leave the loop.</returns>
    public Task<bool> UnexpectedErrorAsync(Exception exception)
    {
        lock (_lock)
        {
            _counters.OnAcceptError();
            _errorsInEpisode++;
            _delay = MaxDelay;
        }

        SockeyeLog.AcceptFailedUnexpectedly(_logger, exception, MaxDelay);
        return WaitAsync(MaxDelay);
    }

    /// <summary>Closes the cushion's spare descriptors.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _cushion.Dispose();
        }
    }

    private async Task<bool> WaitAsync(TimeSpan delay)
    {
        _counters.OnAcceptBackoff();
        try
        {
            await Task.Delay(delay, _time, _stopping).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
