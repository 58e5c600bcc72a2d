namespace Sockeye.Fanout;

/// <summary>One broadcast as it crosses between instances through an <see cref="IGroupBackplane"/>:
/// who sent it, to which group, and the bytes every member receives.</summary>
/// <param name="Origin">The <see cref="GroupBroadcaster.InstanceId"/> of the instance that broadcast it:
/// that instance has delivered it to its own members already and drops it when it comes back.</param>
/// <param name="Group">The group's name (<see cref="ConnectionGroup.Name"/>); the same name on every instance is the same group.</param>
/// <param name="Payload">The bytes, as each member receives them. Valid only during the call it is
/// passed to: a backplane copies what it keeps.</param>
public readonly record struct BackplaneMessage(Guid Origin, string Group, ReadOnlyMemory<byte> Payload);
