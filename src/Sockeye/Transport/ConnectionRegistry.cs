namespace Sockeye.Transport;

/// <summary>
/// The server's live connections, as an intrusive doubly-linked list: the links are two fields in
/// each <see cref="SocketConnection"/>, so tracking a connection allocates nothing (a dictionary entry
/// would cost 48 bytes per idle connection). Add and remove take a lock; they happen once per
/// connection, and the lock is never held for more than a few pointer writes.
/// </summary>
internal sealed class ConnectionRegistry
{
    private readonly Lock _lock = new();
    private SocketConnection? _first;

    public void Add(SocketConnection connection)
    {
        lock (_lock)
        {
            connection.RegistryNext = _first;
            if (_first is not null)
            {
                _first.RegistryPrevious = connection;
            }

            _first = connection;
        }
    }

    public void Remove(SocketConnection connection)
    {
        lock (_lock)
        {
            var previous = connection.RegistryPrevious;
            var next = connection.RegistryNext;
            if (previous is not null)
            {
                previous.RegistryNext = next;
            }
            else if (_first == connection)
            {
                _first = next;
            }
            else
            {
                return; // not registered (already removed)
            }

            if (next is not null)
            {
                next.RegistryPrevious = previous;
            }

            connection.RegistryPrevious = connection.RegistryNext = null;
        }
    }

    /// <summary>The connections registered now, copied so the caller can act on them outside the lock.</summary>
    public List<SocketConnection> Snapshot()
    {
        lock (_lock)
        {
            var all = new List<SocketConnection>();
            for (var c = _first; c is not null; c = c.RegistryNext)
            {
                all.Add(c);
            }

            return all;
        }
    }
}
