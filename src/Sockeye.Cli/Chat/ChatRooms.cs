using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Sockeye.Fanout;

namespace Sockeye.Cli.Chat;

/// <summary>The rooms of one <c>sockeye serve chat</c> process: a <see cref="ConnectionGroup"/> per
/// room, created by the first join and forgotten when its last member leaves. Joins stay local; a
/// room's lines reach its members on other instances through <see cref="Broadcaster"/>'s backplane
/// (<c>--backplane</c>; none: this process's members only).</summary>
internal sealed class ChatRooms : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ConnectionGroup> _rooms = new(StringComparer.Ordinal);

    /// <summary>Rooms over <paramref name="backplane"/> (null: an in-process one, nothing crosses).</summary>
    public ChatRooms(IGroupBackplane? backplane = null, ILoggerFactory? loggerFactory = null) =>
        Broadcaster = new GroupBroadcaster(Find, backplane, loggerFactory);

    /// <summary>Broadcasts a room's line to its members here and on every other instance.</summary>
    public GroupBroadcaster Broadcaster { get; }

    /// <summary>Rooms that exist now.</summary>
    public int Count => _rooms.Count;

    /// <summary>The room named <paramref name="name"/>, if it exists.</summary>
    public ConnectionGroup? Find(string name) => _rooms.TryGetValue(name, out var room) ? room : null;

    /// <summary>Adds <paramref name="connection"/> to the room, creating it if needed.</summary>
    /// <returns>The room's own name (<see cref="ConnectionGroup.Name"/>), for members to keep instead of
    /// a copy of their own; a room that exists is found without making a string of the name.</returns>
    public string Join(ReadOnlySpan<char> name, Connection connection)
    {
        var byName = _rooms.GetAlternateLookup<ReadOnlySpan<char>>();
        while (true)
        {
            if (!byName.TryGetValue(name, out var room))
            {
                room = _rooms.GetOrAdd(name.ToString(), static n => new ConnectionGroup(n));
            }

            room.Add(connection);

            // A room emptied and forgotten between the lookup and Add is not the room any more: join the
            // one that replaced it instead, so no member is left in a room nobody can reach.
            if (byName.TryGetValue(name, out var current) && ReferenceEquals(current, room))
            {
                return room.Name;
            }

            room.Remove(connection);
        }
    }

    /// <summary>Removes <paramref name="connection"/> from the room; forgets the room once it is empty.</summary>
    public void Part(string name, Connection connection)
    {
        if (Find(name) is not { } room)
        {
            return;
        }

        room.Remove(connection);
        if (room.Count == 0)
        {
            _rooms.TryRemove(new KeyValuePair<string, ConnectionGroup>(name, room));
        }
    }

    /// <summary>Closes the backplane.</summary>
    public ValueTask DisposeAsync() => Broadcaster.DisposeAsync();
}
