using System.Net.Sockets;
using Sockeye.Transport.Epoll;

namespace Sockeye.Transport;

/// <summary>
/// The reader's side of the epoll engine (<see cref="Poller"/>): non-blocking <c>recv</c> on the
/// handler's own task, and a wait for the next readiness edge after <c>EAGAIN</c>.
/// </summary>
internal sealed partial class SocketReader : IThreadPoolWorkItem
{
    /// <summary>Receives without blocking until bytes, the FIN or an error are recorded, or the
    /// kernel has nothing and the reader waits for the next edge (<see cref="OperationPending"/>).
    /// Called under the lock.</summary>
    /// <remarks>
    /// A receive that got less than the space it offered emptied the socket (<see cref="Drained"/>):
    /// the next one waits for an edge instead of asking the kernel again only to hear <c>EAGAIN</c>,
    /// one system call fewer per request for a request–reply protocol. Safe with edge-triggered epoll:
    /// every receive first takes back an edge recorded while nobody waited (the receive covers the bytes
    /// behind it), and bytes that arrive after it raise a new edge, which either wakes the wait or is
    /// recorded (<see cref="PollState.Ready"/>) and sends <see cref="PollState.BeginWait"/> back to
    /// receive. Not after the peer's FIN or an error was announced (<see cref="SocketConnection.InputHangup"/>):
    /// a receive returns the bytes before a FIN without the FIN, which then raises no edge of its own.
    /// </remarks>
    private void ReceiveDirect()
    {
        var receive = !Drained;
        while (true)
        {
            if (receive)
            {
                PollState.TakeReady(ref _pollState);
                int received;
                int errno;
                try
                {
                    received = EpollNative.Receive(_connection.Handle, ReserveSpace().Span, out errno);
                }
                catch (Exception ex)
                {
                    RecordFailure(ex); // ObjectDisposedException: the socket was closed
                    return;
                }

                if (received >= 0)
                {
                    RecordReceived(received);
                    Drained = received > 0 && !LastReceiveFilled && !_connection.InputHangup;
                    return;
                }

                if (errno != EpollNative.EAGAIN)
                {
                    RecordFailure(EpollNative.Failure(errno));
                    return;
                }

                // Nothing there: hold no block while waiting.
                ReleaseReserved();
            }

            receive = true;
            Drained = false;
            try
            {
                _connection.EnsurePolled(output: false);
            }
            catch (Exception ex)
            {
                RecordFailure(ex);
                return;
            }

            switch (PollState.BeginWait(ref _pollState))
            {
                case PollState.Waiting:
                    OperationPending = true;
                    return;
                case PollState.Ready:
                    continue; // an edge arrived since the receive: look again
                default:
                    RecordFailure(new SocketException((int)SocketError.OperationAborted));
                    return;
            }
        }
    }

    /// <summary>The poll thread saw the socket readable (or the peer's FIN, or an error).</summary>
    internal void OnPollReadable()
    {
        if (!PollState.Signal(ref _pollState))
        {
            return; // nobody waits: the next receive will find the bytes
        }

        if (_connection.Context.InlineCompletions)
        {
            OnReadyToReceive();
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>The socket was closed: a wait in progress ends (on the pool, not the closing thread).</summary>
    internal void OnSocketClosed()
    {
        if (PollState.Close(ref _pollState))
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute() => OnReadyToReceive();

    /// <summary>The wait ended: receive, and hand the outcome to a waiting read.</summary>
    private void OnReadyToReceive()
    {
        Exception? failure;
        lock (Sync)
        {
            OperationPending = false;
            if (Completed)
            {
                return;
            }

            ReceiveDirect();
            if (!TryEndWait(out failure))
            {
                return;
            }
        }

        Wake(failure);
    }
}
