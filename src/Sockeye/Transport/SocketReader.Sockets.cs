using System.Net.Sockets;

namespace Sockeye.Transport;

/// <summary>
/// The reader's side of .NET's socket engine (the fallback where epoll is not used): a zero-byte
/// receive posted through the reader's <see cref="SocketReceiver"/> while idle, then a data receive
/// into a pool block once the kernel has bytes.
/// </summary>
internal sealed partial class SocketReader
{
    /// <summary>Posts receives until one is pending or an outcome (bytes, FIN, error) is recorded.
    /// Called under the lock.</summary>
    private void ReceivePosted(SocketReceiver receiver)
    {
        while (true)
        {
            bool pending;
            try
            {
                // After a receive that filled its block more bytes are likely waiting: go straight to
                // the data receive, but only if the kernel has some, or the block would sit under a
                // posted receive while the peer idles (seen once in 20 idle TLS connections).
                if (OperationIsData || (LastReceiveFilled && !NothingAvailable()))
                {
                    OperationIsData = true;
                    receiver.SetBuffer(ReserveSpace());
                }
                else
                {
                    receiver.SetBuffer(Memory<byte>.Empty);
                }

                pending = _connection.Socket.ReceiveAsync(receiver);
            }
            catch (Exception ex)
            {
                RecordFailure(ex);
                return;
            }

            if (pending)
            {
                OperationPending = true;
                return;
            }

            if (Record(receiver, inline: true))
            {
                return;
            }
        }
    }

    /// <summary>Records the outcome of the receive that just finished; <see langword="false"/> when
    /// it was the zero-byte wait and the data receive comes next.</summary>
    private bool Record(SocketReceiver receiver, bool inline)
    {
        if (receiver.SocketError != SocketError.Success)
        {
            RecordFailure(new SocketException((int)receiver.SocketError));
            return true;
        }

        if (!OperationIsData)
        {
            // On Linux a zero-byte receive can complete on a stale readiness event: bytes that an earlier
            // receive already took (several packets, one edge). Renting a block for that would leave it
            // under a posted receive while the connection idles, so a wake-up from epoll that finds
            // nothing to read waits again. A FIN also shows nothing available, but its zero-byte
            // receive then completes inline, and goes on to the data receive that reads it.
            if (!inline && NothingAvailable())
            {
                return false;
            }

            OperationIsData = true; // bytes (or the FIN) are waiting
            return false;
        }

        var received = receiver.BytesTransferred;
        OperationIsData = false;
        receiver.SetBuffer(Memory<byte>.Empty); // keep no reference to a block between receives
        RecordReceived(received);
        return true;
    }

    /// <summary>The posted receive finished (called by <see cref="SocketReceiver"/>).</summary>
    internal void OnOperationCompleted()
    {
        var receiver = _receiver!;
        Exception? failure;
        lock (Sync)
        {
            OperationPending = false;
            var recorded = Record(receiver, inline: false);
            if (Completed)
            {
                // The handler is gone: no more receives, and the receiver is no longer needed.
                ReleaseReserved();
                receiver.Dispose();
                return;
            }

            if (!recorded)
            {
                ReceivePosted(receiver);
            }

            if (!TryEndWait(out failure))
            {
                return;
            }
        }

        Wake(failure);
    }

    private bool NothingAvailable()
    {
        try
        {
            return _connection.Socket.Available == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false; // the data receive will report the failure
        }
    }
}
