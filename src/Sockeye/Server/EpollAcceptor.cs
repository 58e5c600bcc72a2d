using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Sockeye.Diagnostics;
using Sockeye.Transport;
using Sockeye.Transport.Epoll;

namespace Sockeye.Server;

/// <summary>
/// One listener's accepts on Sockeye's own poll threads (the epoll engine): when the listener is
/// readable, the poll thread calls <c>accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)</c> until <c>EAGAIN</c>
/// or <see cref="MaxBatch"/>, and hands each new socket to <see cref="AcceptLoop.Admit"/> (the same
/// limits as .NET's accept loop) with itself as the poller that will serve it. No hand-off between
/// threads and no .NET <see cref="Socket"/> per connection.
/// </summary>
/// <remarks>
/// <para>Which pollers: with as many listeners as pollers or more (<see cref="TcpServerOptions.AcceptorCount"/>,
/// <c>SO_REUSEPORT</c>), listener i goes to poller i mod n alone; with fewer, every listener is added to
/// every poller with <c>EPOLLEXCLUSIVE</c>, so the kernel wakes one waiting poll thread per
/// connection (a busy one is skipped). A listener shared with other processes
/// (<see cref="TcpServerOptions.ListenFd"/>) goes on one poller, not exclusive, so that the processes
/// share its connections (see <see cref="StartAll"/>). A shared listener is what restarts, <c>LISTEN_FDS</c> and
/// supervisors hand over (closing one of several <c>SO_REUSEPORT</c> listeners resets what is queued
/// on it), and BENCHMARKS.md ("Accept on the poller") measured it against one listener per poll thread.</para>
/// <para>The listener is level-triggered: what a batch leaves is reported again at the next wait, so
/// a burst cannot starve the connections already on the loop. Out of descriptors (or on any other
/// accept error) the listener leaves epoll for the back-off delay (<see cref="AcceptBackoff"/>) —
/// level-triggered, it would otherwise wake the poll thread at once, again and again.</para>
/// <para>Stopping: <see cref="Stop"/> takes the listener out of every epoll while it is still open;
/// <see cref="Completion"/> ends when no poll thread is inside a batch any more.</para>
/// </remarks>
internal sealed class EpollAcceptor : IAcceptReady, IDisposable
{
    /// <summary>Accepts per readiness event at most: enough to take a burst in few wake-ups, few
    /// enough that the loop's other connections wait at most that many handler starts.</summary>
    public const int MaxBatch = 64;

    private readonly AcceptLoop _loop;
    private readonly Socket _listener;
    private readonly int _index;
    private readonly Poller[] _pollers;
    private readonly bool _exclusive;
    private readonly bool _unix;
    private readonly AcceptBackoff _backoff;
    private readonly ILogger _logger;
    private readonly Func<int>? _fault;
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Poll threads inside OnAcceptReady now; the stop completes when it is 0 after _stopped.
    private int _busy;
    private volatile bool _stopped;

    // Out of epoll for a back-off delay (guarded by _lock).
    private bool _paused;

    // The largest batch one readiness event accepted (a test probe; written without a lock).
    private int _largestBatch;

    private EpollAcceptor(AcceptLoop loop, Socket listener, int index, Poller[] pollers, bool exclusive, AcceptBackoff backoff, ILogger logger, Func<int>? fault)
    {
        _fault = fault;
        _loop = loop;
        _listener = listener;
        _index = index;
        _pollers = pollers;
        _exclusive = exclusive;
        _unix = listener.AddressFamily == AddressFamily.Unix;
        _backoff = backoff;
        _logger = logger;
    }

    /// <summary>Ends when the acceptor has stopped and no poll thread is accepting on it.</summary>
    public Task Completion => _done.Task;

    /// <summary>The most connections one readiness event accepted so far.</summary>
    /// <summary>Whether the listener is out of epoll for a back-off or until a slot frees (for tests).</summary>
    internal bool IsPaused
    {
        get
        {
            lock (_lock)
            {
                return _paused;
            }
        }
    }

    public int LargestBatch => Volatile.Read(ref _largestBatch);

    /// <summary>Adds every listener to its pollers (see the remarks for which).</summary>
    /// <exception cref="SocketException"><c>epoll_ctl</c> failed; no listener is left registered.</exception>
    public static EpollAcceptor[] StartAll(AcceptLoop loop, Socket[] listeners, PollerGroup group, bool sharedWithOtherProcesses,
        TcpServerCounters counters, TimeProvider time, ILogger logger, Func<int>? fault, CancellationToken stopping)
    {
        var pollers = group.Pollers;

        // A listener other processes also accept on (ListenFd: a supervisor's workers, a restart's old
        // and new process) goes on one poller per process, without EPOLLEXCLUSIVE. The kernel wakes the
        // first-registered idle waiter of an exclusive set, so one worker would take every connection
        // while the machine is quiet and long-lived connections would pile onto one core (the
        // supervisor's top test saw 40 of 40 on one worker). Woken together, the processes race for
        // each connection as they did on .NET's engine: one wake-up per process per connection is the
        // price of spreading them.
        var oneEach = listeners.Length >= pollers.Count || sharedWithOtherProcesses;
        var acceptors = new EpollAcceptor[listeners.Length];
        try
        {
            for (var i = 0; i < listeners.Length; i++)
            {
                Poller[] mine = oneEach ? [pollers[i % pollers.Count]] : [.. pollers];
                acceptors[i] = new EpollAcceptor(loop, listeners[i], i, mine, exclusive: mine.Length > 1,
                    new AcceptBackoff(counters, time, logger, stopping), logger, fault);
                acceptors[i].AddToPollers();
            }
        }
        catch
        {
            foreach (var acceptor in acceptors)
            {
                acceptor?.Stop();
                acceptor?.Dispose();
            }

            throw;
        }

        return acceptors;
    }

    /// <summary>Stops accepting: the listener leaves every epoll (while still open). Idempotent.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            if (!_paused)
            {
                RemoveFromPollers();
            }
        }

        if (Volatile.Read(ref _busy) == 0)
        {
            Finish();
        }
    }

    /// <summary>Closes the back-off's descriptor cushion.</summary>
    public void Dispose() => _backoff.Dispose();

    /// <summary>On <paramref name="poller"/>'s thread: accepts what is queued, up to
    /// <see cref="MaxBatch"/>.</summary>
    public void OnAcceptReady(Poller poller)
    {
        Interlocked.Increment(ref _busy);
        try
        {
            var accepted = 0;
            Span<byte> address = stackalloc byte[EpollNative.MaxAddressLength];
            while (accepted < MaxBatch && !_stopped)
            {
                if (_loop.WaitsForSlot)
                {
                    PauseUntilSlotFree(); // full: what is queued stays for a process sharing the listener
                    break;
                }

                int fd, length = 0, errno;
                try
                {
                    errno = _fault?.Invoke() ?? 0;
                    fd = errno != 0 ? -1 : EpollNative.Accept(_listener.SafeHandle, address, out length, out errno);
                }
                catch (ObjectDisposedException)
                {
                    return; // the listener was closed by the stop
                }

                if (fd < 0)
                {
                    if (errno != EpollNative.EAGAIN)
                    {
                        OnAcceptFailed(errno);
                    }

                    break;
                }

                accepted++;
                if (!Admit(fd, address[..length], poller))
                {
                    Pause(SocketError.TooManyOpenSockets, null); // the cushion could not be retaken
                    break;
                }
            }

            if (accepted > _largestBatch)
            {
                _largestBatch = accepted;
            }
        }
#pragma warning disable CA1031 // On the poll thread: nothing may end it. Treated as .NET's loop treats an unknown error.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Pause(SocketError.SocketError, ex);
        }
        finally
        {
            if (Interlocked.Decrement(ref _busy) == 0 && _stopped)
            {
                Finish();
            }
        }
    }

    private bool Admit(int fd, ReadOnlySpan<byte> address, Poller poller)
    {
        System.Runtime.InteropServices.SafeHandle handle;
        Socket? socket = null;
        PeerAddress remote;
        if (_unix)
        {
            var socketHandle = new SafeSocketHandle(fd, ownsHandle: true);
            handle = socketHandle;
            // Not the hot path: .NET reads a Unix peer's address (usually unnamed) its own way, and
            // the socket it builds from the descriptor is what the connection then closes.
            try
            {
                socket = new Socket(socketHandle);
                remote = PeerAddress.Of(socket.RemoteEndPoint);
            }
            catch (SocketException)
            {
                handle.Dispose(); // the peer left already
                return true;
            }
        }
        else
        {
            handle = new SocketDescriptor(fd);
            remote = PeerAddress.FromSocketAddress(address); // an IPv4 endpoint is made only if asked for
        }

        return _loop.Admit(handle, socket, remote, _backoff, _index, poller);
    }

    private void OnAcceptFailed(int errno)
    {
        var error = EpollNative.Failure(errno);
        if (errno is EpollNative.EBADF or EpollNative.EINVAL or 88 /* ENOTSOCK */)
        {
            Stop(); // the listener was closed or stopped listening: leave quietly, as .NET's loop does
            return;
        }

        if (SocketErrors.IsTemporaryAcceptError(error.SocketErrorCode))
        {
            if (error.SocketErrorCode == SocketError.TooManyOpenSockets)
            {
                _loop.OnOutOfDescriptors();
            }

            Pause(error.SocketErrorCode, null);
            return;
        }

        Pause(error.SocketErrorCode, error);
    }

    /// <summary>Takes the listener out of epoll for the next back-off step (a level-triggered listener
    /// that cannot be accepted from would wake the poll thread at once, again and again), then puts
    /// it back unless the server began stopping.</summary>
    private void Pause(SocketError error, Exception? unexpected)
    {
        lock (_lock)
        {
            if (_stopped || _paused)
            {
                return; // another poll thread already backs off for this listener
            }

            _paused = true;
            RemoveFromPollers();
        }

        var wait = unexpected is null ? _backoff.TemporaryErrorAsync(error) : _backoff.UnexpectedErrorAsync(unexpected);
        wait.ContinueWith(static (t, state) => ((EpollAcceptor)state!).Resume(t.Result), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Takes the listener out of epoll until a connection slot frees
    /// (<see cref="TcpServerOptions.WaitWhenFull"/>): level-triggered, it would otherwise wake this
    /// poll thread for every queued connection it is not going to take.</summary>
    private void PauseUntilSlotFree()
    {
        lock (_lock)
        {
            if (_stopped || _paused)
            {
                return;
            }

            _paused = true;
            RemoveFromPollers();
        }

        _loop.WaitForFreeSlotAsync().ContinueWith(static (t, state) => ((EpollAcceptor)state!).Resume(t.Result), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Resume(bool keepGoing)
    {
        lock (_lock)
        {
            _paused = false;
            if (_stopped)
            {
                return;
            }

            if (!keepGoing)
            {
                _stopped = true; // the server is stopping: the listener stays out of epoll
            }
            else
            {
                try
                {
                    AddToPollers();
                    return;
                }
                catch (ObjectDisposedException)
                {
                    _stopped = true; // the listener was closed: the server is stopping
                }
                catch (SocketException ex)
                {
                    // epoll_ctl refused the listener (out of kernel memory, max_user_watches, a descriptor
                    // that is no longer a socket): stopping here would leave a server that silently never
                    // accepts again, so stay out of epoll, log it and try again after the slowest back-off.
                    _paused = true;
                    _backoff.UnexpectedErrorAsync(ex).ContinueWith(static (t, state) => ((EpollAcceptor)state!).Resume(t.Result), this,
                        CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    return;
                }
            }
        }

        if (Volatile.Read(ref _busy) == 0)
        {
            Finish();
        }
    }

    /// <exception cref="SocketException"><c>epoll_ctl</c> failed; the pollers already added are removed again.</exception>
    private void AddToPollers()
    {
        // O_NONBLOCK belongs to the open file, so a listener shared with other processes (ListenFd,
        // a supervisor) becomes non-blocking for them too; .NET's engine, the only other user we
        // hand them to, copes (it makes its sockets non-blocking itself).
        var nonBlocking = EpollNative.SetNonBlocking(_listener.SafeHandle);
        if (nonBlocking != 0)
        {
            throw EpollNative.Failure(nonBlocking);
        }

        for (var i = 0; i < _pollers.Length; i++)
        {
            var error = _pollers[i].AddListener(_listener.SafeHandle, this, _exclusive);
            if (error != 0)
            {
                for (var j = 0; j < i; j++)
                {
                    _pollers[j].RemoveListener(_listener.SafeHandle, this);
                }

                throw EpollNative.Failure(error);
            }
        }
    }

    private void RemoveFromPollers()
    {
        foreach (var poller in _pollers)
        {
            poller.RemoveListener(_listener.SafeHandle, this);
        }
    }

    private void Finish()
    {
        if (_done.TrySetResult())
        {
            _backoff.Dispose();
        }
    }
}
