using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// The connection's side of the epoll engine (<see cref="Poller"/>): registration at the first wait, the
/// readiness events, removal from epoll before the socket closes, and waking the reader and writer
/// when it has closed (no event would).
/// </summary>
internal sealed partial class SocketConnection
{
    private const uint InputEvents = EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLET;
    private const uint ClosedMark = uint.MaxValue;

    // What the socket is registered for (0: not yet; ClosedMark: closed, never again). Guarded by
    // SyncRoot (never this object: the handler holds it); read without it on the fast path.
    private uint _pollEvents;

    // Set by the poll thread, before it wakes the reader, once an event said the peer hung up or the
    // socket failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR): a short receive then no longer means the socket is
    // empty, since the FIN or the error waits behind the bytes it returned and raises no further edge.
    private volatile bool _inputHangup;

    /// <summary>Whether an event has said the peer hung up or the socket failed (see <see cref="SocketReader"/>'s
    /// drained receive).</summary>
    internal bool InputHangup => _inputHangup;

    /// <summary>The connection's token in its poller; 0 until its socket is registered.</summary>
    internal ulong PollToken { get; set; }

    /// <summary>Makes sure the socket is in epoll for input (and for output when
    /// <paramref name="output"/>) before the reader or writer waits: called after an <c>EAGAIN</c>.
    /// An edge that came between the <c>EAGAIN</c> and the registration is reported by the
    /// registration itself (epoll reports the current state when a socket is added or changed).</summary>
    /// <exception cref="System.Net.Sockets.SocketException"><c>epoll_ctl</c> failed.</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    internal void EnsurePolled(bool output)
    {
        var wanted = output ? InputEvents | EpollNative.EPOLLOUT : InputEvents;
        var current = Volatile.Read(ref _pollEvents);
        if ((current & wanted) == wanted)
        {
            return; // registered (or closed: the wait then sees the closed state)
        }

        lock (SyncRoot)
        {
            current = _pollEvents;
            if ((current & wanted) == wanted)
            {
                return;
            }

            if (current == 0)
            {
                _context.Poller!.Register(this, wanted);
            }
            else
            {
                _context.Poller!.Modify(this, current | wanted);
            }

            Volatile.Write(ref _pollEvents, current | wanted);
        }
    }

    /// <summary>Readiness from the poll thread: input, the peer's FIN or an error wake the reader;
    /// room to send or an error wake the writer.</summary>
    internal void OnPollEvents(uint events)
    {
        if ((events & (EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            if ((events & (EpollNative.EPOLLRDHUP | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
            {
                _inputHangup = true; // before the signal, so the reader sees it with the edge
            }

            _reader.OnPollReadable();
        }

        if ((events & (EpollNative.EPOLLOUT | EpollNative.EPOLLHUP | EpollNative.EPOLLERR)) != 0)
        {
            _writer.OnPollWritable();
        }
    }

    /// <summary>Before the socket is closed: takes it out of epoll (<c>EPOLL_CTL_DEL</c>) and frees
    /// the poller slot; no registration is made after. Removing it explicitly matters: epoll drops a
    /// registration on close only when no other descriptor refers to the same socket, so a
    /// <c>dup()</c>ed descriptor (a child process, user code with the handle) would keep it, and
    /// its events, alive.</summary>
    private void StopPolling()
    {
        if (_context.Poller is not { } poller)
        {
            return;
        }

        lock (SyncRoot)
        {
            if (_pollEvents is not (0 or ClosedMark))
            {
                poller.Unregister(this);
            }

            _pollEvents = ClosedMark;
        }
    }

    /// <summary>After the socket was closed: ends a wait in progress in the reader and the writer.</summary>
    private void EndPollWaits()
    {
        if (_context.Poller is null)
        {
            return;
        }

        _reader.OnSocketClosed();
        _writer.OnSocketClosed();
    }
}
