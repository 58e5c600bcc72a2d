using Sockeye.Fanout;

namespace Sockeye.Transport;

/// <summary>The connection's side of fan-out: its send queue (<see cref="Outbox"/>), taken from the
/// server's <see cref="OutboxPool"/> by a <see cref="TrySend(OutgoingMessage)"/> or <see cref="SendQueue"/>
/// setting and given back when a drain has emptied it.</summary>
internal sealed partial class SocketConnection
{
    /// <summary>The writer, whose send gate the queue shares.</summary>
    internal SocketWriter Writer => _writer;

    /// <summary>The send queue while the connection has one, else null. A queue read here may be given
    /// back (and serve another connection) at any moment: use it only through the methods that take this
    /// connection and answer whether it is still its own, and read this again when they say no.</summary>
    internal Outbox? Outbox => ExtrasIfCreated?.Outbox;

    public override SendResult TrySend(OutgoingMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        while (true)
        {
            if (IsAborted || EnsureOutbox(null) is not { } outbox)
            {
                return SendResult.Closed;
            }

            if (outbox.TryEnqueue(this, message, out var result))
            {
                return result;
            }
        }
    }

    public override SendQueueOptions SendQueue
    {
        get
        {
            while (true)
            {
                if (Outbox is not { } outbox)
                {
                    return _context.SendQueue;
                }

                if (outbox.TryGetOptions(this, out var options))
                {
                    return options;
                }
            }
        }

        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();

            // A queue with limits of its own is kept (never given back), so they hold for every later
            // message. Limits equal to the server's (the same instance) leave it poolable.
            while (EnsureOutbox(value) is { } outbox && !outbox.TrySetOptions(this, value))
            {
            }
        }
    }

    public override long QueuedBytes
    {
        get
        {
            while (true)
            {
                if (Outbox is not { } outbox)
                {
                    return 0;
                }

                if (outbox.TryGetPendingBytes(this, out var bytes))
                {
                    return bytes;
                }
            }
        }
    }

    /// <summary>The connection's send queue: the one it has, or one taken from the server's pool; null
    /// once the connection is aborted or closing (a queue taken then is closed at once, as the close may
    /// not have seen it).</summary>
    private Outbox? EnsureOutbox(SendQueueOptions? options)
    {
        var extras = Extras;
        while (true)
        {
            if (Volatile.Read(ref extras.Outbox) is { } outbox)
            {
                return outbox;
            }

            if (IsQueueRefused)
            {
                return null;
            }

            var taken = _context.Outboxes.Rent();
            if (!taken.TryAttach(this, _writer, options ?? _context.SendQueue))
            {
                _context.Outboxes.Return(taken); // another thread attached one first
                continue;
            }

            // Both sides write (the abort's flag, the writer's closed flag; the attach) before they read
            // the other's: either the close sees this queue and closes it, or this sees the close.
            if (IsQueueRefused)
            {
                taken.TryClose(this);
            }

            return taken;
        }
    }

    /// <summary>Whether the connection takes no new send queue: aborted, or closing gracefully.</summary>
    private bool IsQueueRefused => IsAborted || _writer.IsClosed;

    /// <summary>Closes the connection's send queue if it has one (the abort, the end of a graceful close):
    /// queued messages are dropped, later ones refused.</summary>
    internal void CloseOutbox()
    {
        while (Outbox is { } outbox && !outbox.TryClose(this))
        {
        }
    }

    /// <summary>Disconnects this connection because its send queue passed the slow-consumer limit
    /// (counted as <see cref="ConnectionCloseReason.SlowConsumer"/>, logged rate-limited).</summary>
    internal void DisconnectSlowConsumer(string why)
    {
        Extras.Rare.SlowConsumer = true;
        if (_context.Logger is { } logger && _context.SlowConsumerLog.TryEnter(out var suppressed))
        {
            Diagnostics.SockeyeLog.SlowConsumerDisconnected(logger, Id, why, suppressed);
        }

        Abort($"slow consumer: {why}");
    }
}
