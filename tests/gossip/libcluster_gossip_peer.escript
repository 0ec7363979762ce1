#!/usr/bin/env escript
%% libcluster 3.5's Cluster.Strategy.Gossip (lib/strategy/gossip.ex), transcribed to Erlang for
%% interop tests where Elixir is not installed: the same gen_udp options, the same packet
%% (["heartbeat::", term_to_binary(%{node: node()})], or iv <> AES-256-CBC with key
%% sha256(secret) and libcluster's pkcs7 pad/unpad, quirk included) and the same receive rules
%% (non-safe binary_to_term, %{node: ^self} ignored, %{node: n} when is_atom(n) accepted).
%% Differences, for a bounded test: the heartbeat interval is rand:uniform(200) ms instead of
%% rand:uniform(5_000), the node name is an argument instead of node(), "connect" prints
%% "heard <node>", and it halts: 0 about 1.5 s after hearing EXPECT, 1 at the deadline.
%%
%% Usage: escript libcluster_gossip_peer.escript NODE PORT SECRET|- EXPECT SECONDS
-mode(compile).

main([NodeS, PortS, SecretS, ExpectS, SecondsS]) ->
    Port = list_to_integer(PortS),
    Secret = case SecretS of "-" -> nil; S -> list_to_binary(S) end,
    MulticastAddr = {233, 252, 1, 32},
    {ok, Socket} = gen_udp:open(Port, [binary, {active, true}, {ip, {0, 0, 0, 0}},
                                       {reuseaddr, true}, {broadcast, true},
                                       {multicast_ttl, 1}, {multicast_loop, true},
                                       {add_membership, {MulticastAddr, {0, 0, 0, 0}}}]),
    self() ! heartbeat,
    Deadline = erlang:monotonic_time(millisecond) + list_to_integer(SecondsS) * 1000,
    loop(#{socket => Socket, port => Port, addr => MulticastAddr, secret => Secret,
           self => list_to_atom(NodeS), expect => list_to_atom(ExpectS),
           deadline => Deadline, heard => false}).

loop(#{deadline := Deadline} = State) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        heartbeat ->
            #{socket := Socket, addr := Addr, port := Port} = State,
            gen_udp:send(Socket, Addr, Port, heartbeat_packet(State)),
            erlang:send_after(rand:uniform(200), self(), heartbeat),
            loop(State);
        {udp, _Socket, _Ip, _Port, Packet} ->
            handle_packet(Packet, State)
    after Left ->
        case State of
            #{heard := true} -> halt(0);
            _ -> io:format("timeout~n"), halt(1)
        end
    end.

heartbeat_packet(#{self := Self, secret := nil}) ->
    ["heartbeat::", term_to_binary(#{node => Self})];
heartbeat_packet(#{self := Self, secret := Secret}) ->
    IV = crypto:strong_rand_bytes(16),
    Plain = pkcs7_pad(<<"heartbeat::", (term_to_binary(#{node => Self}))/binary>>),
    [IV, crypto:crypto_one_time(aes_256_cbc, crypto:hash(sha256, Secret), IV, Plain, true)].

handle_packet(<<"heartbeat::", Rest/binary>>, #{secret := nil} = State) ->
    handle_heartbeat(binary_to_term(Rest), State);
handle_packet(_, #{secret := nil} = State) ->
    loop(State);
handle_packet(<<IV:16/binary, Ciphertext/binary>>, #{secret := Secret} = State) ->
    Key = crypto:hash(sha256, Secret),
    try crypto:crypto_one_time(aes_256_cbc, Key, IV, Ciphertext, false) of
        Padded ->
            case pkcs7_unpad(Padded) of
                {ok, <<"heartbeat::", Rest/binary>>} -> handle_heartbeat(binary_to_term(Rest), State);
                _ -> loop(State)
            end
    catch
        error:_ -> loop(State)
    end;
handle_packet(_, State) ->
    loop(State).

handle_heartbeat(#{node := Self}, #{self := Self} = State) ->
    loop(State);
handle_heartbeat(#{node := Node}, #{expect := Node, heard := false} = State) when is_atom(Node) ->
    io:format("heard ~s~n", [Node]),
    loop(State#{heard := true, deadline := erlang:monotonic_time(millisecond) + 1500});
handle_heartbeat(_, State) ->
    loop(State).

pkcs7_pad(Data) ->
    Pad = 16 - byte_size(Data) rem 16,
    <<Data/binary, (binary:copy(<<Pad>>, Pad))/binary>>.

%% libcluster's unpad: a last byte of 0 is taken as "no padding".
pkcs7_unpad(<<>>) ->
    error;
pkcs7_unpad(Data) ->
    Pad = binary:last(Data),
    Size = byte_size(Data) - Pad,
    case Pad =< 16 andalso Size >= 0 of
        true ->
            case Data of
                <<Rest:Size/binary, Padding/binary>> ->
                    case lists:all(fun(B) -> B =:= Pad end, binary_to_list(Padding)) of
                        true -> {ok, Rest};
                        false -> error
                    end
            end;
        false ->
            error
    end.
