using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// The connection's side of the epoll engine (<see cref="Poller"/>): registration at creation, the
/// readiness events, and waking the reader and writer when the socket closes (a closed descriptor
/// leaves epoll silently, so nothing else would).
/// </summary>
internal sealed partial class SocketConnection
{
    /// <summary>The connection's token in its poller; 0 when the server uses .NET's socket engine.</summary>
    internal ulong PollToken { get; set; }

    /// <summary>Readiness from the poll thread: input, the peer's FIN or an error wake the reader;
    /// room to send or an error wake the writer.</summary>
    internal void OnPollEvents(uint events)
    {
        if ((events & (EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            _reader.OnPollReadable();
        }

        if ((events & (EpollNative.EPOLLOUT | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            _writer.OnPollWritable();
        }
    }

    /// <summary>After the socket was closed: frees the poller slot and ends a wait in progress.</summary>
    private void ClosePoll()
    {
        if (_context.Poller is not { } poller)
        {
            return;
        }

        poller.Unregister(PollToken);
        _reader.OnSocketClosed();
        _writer.OnSocketClosed();
    }
}
