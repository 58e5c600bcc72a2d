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
    private void ReceiveDirect()
    {
        while (true)
        {
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
                return;
            }

            if (errno != EpollNative.EAGAIN)
            {
                RecordFailure(EpollNative.Failure(errno));
                return;
            }

            // Nothing there: hold no block while waiting.
            ReleaseReserved();
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
