import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Role } from '../../models/status.js';

registerEnumType(Role, { name: 'Role', description: 'What a user may do: customers manage their own reservations; admins all.' });

@ObjectType({ simpleResolvers: true, description: 'A person who can log in.' })
export class User {
  @Field(() => ID)
  id!: string;

  @Field()
  email!: string;

  @Field()
  username!: string;

  @Field(() => String, { nullable: true })
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  lastName?: string | null;

  @Field({ description: '"First Last" when a first name is set, else the username.' })
  displayName!: string;

  @Field(() => Role)
  role!: Role;

  @Field()
  createdAt!: Date;
}

@ObjectType({ simpleResolvers: true })
export class AuthPayload {
  @Field({ description: 'A bearer token: send it as `Authorization: Bearer <token>`.' })
  token!: string;

  @Field(() => User)
  user!: User;
}
