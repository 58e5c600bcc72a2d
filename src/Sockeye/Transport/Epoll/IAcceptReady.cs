namespace Sockeye.Transport.Epoll;

/// <summary>
/// A listening socket registered with one or more <see cref="Poller"/>s: told on the poll thread when
/// connections are queued on it, so it can accept them there, on the loop that will serve them.
/// </summary>
internal interface IAcceptReady
{
    /// <summary>Connections may be waiting: accept some (a bounded batch) on <paramref name="poller"/>'s
    /// thread. Must not throw; the listener is registered level-triggered, so what is left after the
    /// batch is reported again by the next wait.</summary>
    void OnAcceptReady(Poller poller);
}
