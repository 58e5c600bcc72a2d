using System.Collections.Concurrent;
using System.Net.Sockets;
using Sockeye.Diagnostics;
using Sockeye.Transport;

namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    // At most one load-shedding warning per this interval, carrying the drops since the previous one.
    private static readonly TimeSpan ShedWarningInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Receive into a pooled datagram → count → drop if oversize or every handler slot is taken → run the
    /// handler → if it finished synchronously, reuse the same datagram; otherwise it keeps the datagram until
    /// it completes and the loop takes another from the pool. Ends when the server stops.
    /// </summary>
    private async Task ReceiveLoopAsync(Socket socket)
    {
        // Every datagram object this socket owns, when no handler holds it. At most
        // MaxConcurrentHandlers are held at once, so the pool stays bounded without a cap of its own.
        var pool = new ConcurrentQueue<Datagram>();
        var bufferSize = _options.MaxDatagramSize + 1;
        var stopping = _lifecycle.StopRequested;
        var datagram = Rent(pool, socket, bufferSize);
        while (true)
        {
            int received;
            try
            {
                received = await socket.ReceiveFromAsync(datagram.Buffer, SocketFlags.None, datagram.Address, stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (stopping.IsCancellationRequested || ex is ObjectDisposedException
                || (ex is SocketException closed && SocketErrors.IsClosedLocally(closed.SocketErrorCode)))
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize)
            {
                // Windows reports a datagram larger than the buffer this way; Linux truncates it silently,
                // which the extra byte in the buffer catches below.
                _counters.OversizeDropped();
                continue;
            }
            catch (SocketException ex)
            {
                // For example an ICMP "port unreachable" for an earlier reply, reported on the socket by
                // Windows. Not fatal to the server: count, log, receive the next one.
                _counters.ReceiveFailed();
                SockeyeLog.UdpReceiveFailed(_logger, LocalEndPoint, ex.SocketErrorCode.ToString());
                continue;
            }

            _counters.Received(Math.Min(received, _options.MaxDatagramSize));
            if (received > _options.MaxDatagramSize)
            {
                _counters.OversizeDropped();
                continue;
            }

            if (!_lifecycle.Slots.TryTake())
            {
                _counters.OverloadDropped();
                if (_sheddingLog.TryEnter(out var heldBack))
                {
                    SockeyeLog.UdpShedding(_logger, heldBack + 1, ShedWarningInterval, _options.MaxConcurrentHandlers);
                }

                continue;
            }

            datagram.Received(received);
            if (!RunHandler(datagram, pool))
            {
                datagram = Rent(pool, socket, bufferSize); // The handler still holds the old one.
            }
        }
    }

    /// <summary>Runs the handler; returns whether it finished synchronously (the datagram is free again).</summary>
    private bool RunHandler(Datagram datagram, ConcurrentQueue<Datagram> pool)
    {
        ValueTask task;
        try
        {
            task = _handler!(datagram);
        }
        catch (Exception ex)
        {
            HandlerFailed(datagram, ex);
            _lifecycle.ReleaseSlot();
            return true;
        }

        if (task.IsCompleted)
        {
            try
            {
                task.GetAwaiter().GetResult(); // Also returns a pooled IValueTaskSource.
            }
            catch (Exception ex)
            {
                HandlerFailed(datagram, ex);
            }

            _lifecycle.ReleaseSlot();
            return true;
        }

        _ = AwaitHandlerAsync(task, datagram, pool);
        return false;
    }

    private async Task AwaitHandlerAsync(ValueTask task, Datagram datagram, ConcurrentQueue<Datagram> pool)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            HandlerFailed(datagram, ex);
        }
        finally
        {
            pool.Enqueue(datagram);
            _lifecycle.ReleaseSlot();
        }
    }

    private void HandlerFailed(Datagram datagram, Exception ex)
    {
        _counters.HandlerFailed();
        if (_handlerErrorLog.TryEnter(out var suppressed))
        {
            SockeyeLog.DatagramHandlerFailed(_logger, datagram.RemoteEndPoint, suppressed, ex);
        }
    }

    private Datagram Rent(ConcurrentQueue<Datagram> pool, Socket socket, int bufferSize)
    {
        if (pool.TryDequeue(out var datagram))
        {
            return datagram;
        }

        _counters.BufferAllocated();
        return new Datagram(this, socket, bufferSize);
    }
}
